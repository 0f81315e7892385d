"""ALS pure rules: which oracle answers, and which FSPs an oracle result points to."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mojahub.lookup.model import Oracle, OracleEntry, choose_oracle, matching_fsps
from mojahub.lookup.oracle_client import parse_party_list


def oracle(id: int, type: str = "MSISDN", currency: str | None = None, default: bool = False,
           active: bool = True) -> Oracle:
    return Oracle(id, type, f"http://oracle{id}", "URL", currency, default, active)


def test_no_registered_oracle_for_the_type_means_the_builtin_answers() -> None:
    assert choose_oracle([oracle(1, "EMAIL")], "MSISDN", None) is None
    assert choose_oracle([oracle(1, active=False)], "MSISDN", None) is None


def test_the_default_oracle_wins_then_the_oldest() -> None:
    assert choose_oracle([oracle(1), oracle(2, default=True), oracle(3)], "MSISDN", None) == oracle(2, default=True)
    assert choose_oracle([oracle(3), oracle(1)], "MSISDN", None) == oracle(1)


def test_a_currency_selects_the_oracle_of_that_currency_else_a_currency_less_one() -> None:
    usd, xxx, any_ = oracle(1, currency="USD"), oracle(2, currency="XXX"), oracle(3)
    assert choose_oracle([usd, xxx, any_], "MSISDN", "XXX") == xxx
    assert choose_oracle([usd, any_], "MSISDN", "EUR") == any_


def test_without_sub_id_only_entries_without_sub_id_match() -> None:
    entries = [OracleEntry("fsp1", party_sub_id="100"), OracleEntry("fsp2"), OracleEntry("fsp2"), OracleEntry("fsp3")]
    assert matching_fsps(entries, None) == ["fsp2", "fsp3"]


def test_with_sub_id_only_entries_with_exactly_that_sub_id_match() -> None:
    entries = [OracleEntry("fsp1", party_sub_id="100"), OracleEntry("fsp2"), OracleEntry("fsp3", party_sub_id="200")]
    assert matching_fsps(entries, "100") == ["fsp1"]
    assert matching_fsps(entries, "300") == []


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from([None, "1", "2"])), max_size=12),
       st.sampled_from([None, "1", "2"]))
def test_matching_fsps_never_repeats_and_only_returns_matching_owners(
    raw: list[tuple[str, str | None]], sub_id: str | None
) -> None:
    entries = [OracleEntry(fsp, party_sub_id=sub) for fsp, sub in raw]
    found = matching_fsps(entries, sub_id)
    assert len(found) == len(set(found))
    assert set(found) == {fsp for fsp, sub in raw if sub == sub_id}


def test_oracle_answers_are_recognised_and_anything_else_is_not() -> None:
    assert parse_party_list({"partyList": [{"fspId": "payeefsp", "currency": "XXX"}]}) == [
        OracleEntry("payeefsp", "XXX", None)
    ]
    assert parse_party_list({"partyList": []}) == []
    assert parse_party_list({"hello": "ttk"}) is None
    assert parse_party_list([1, 2]) is None
    assert parse_party_list({"partyList": [{"name": "no fspId"}]}) is None
