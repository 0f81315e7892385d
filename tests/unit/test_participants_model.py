"""Pure participants rules: settlement-model combinations, funds postings, request hashing, and
the exact JSON rendering of admin amounts."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mojahub.api.admin.exact_json import Amount, dumps
from mojahub.kernel.errors import HubError
from mojahub.ledger.model import RECORD_FUNDS_IN, RECORD_FUNDS_OUT
from mojahub.participants import model


@pytest.mark.parametrize(
    ("delay", "granularity", "interchange"),
    [("IMMEDIATE", "GROSS", "BILATERAL"), ("DEFERRED", "GROSS", "BILATERAL"),
     ("DEFERRED", "NET", "BILATERAL"), ("DEFERRED", "NET", "MULTILATERAL")],
)
def test_allowed_settlement_combinations_pass(delay: str, granularity: str, interchange: str) -> None:
    model.check_settlement_combination(delay, granularity, interchange)


@pytest.mark.parametrize(
    ("delay", "granularity", "interchange", "reason"),
    [("IMMEDIATE", "NET", "MULTILATERAL", "IMMEDIATE settlement cannot be NET"),
     ("IMMEDIATE", "NET", "BILATERAL", "IMMEDIATE settlement cannot be NET"),
     ("DEFERRED", "GROSS", "MULTILATERAL", "GROSS settlement cannot be MULTILATERAL"),
     ("IMMEDIATE", "GROSS", "MULTILATERAL", "GROSS settlement cannot be MULTILATERAL")],
)
def test_other_settlement_combinations_are_3000_with_the_reason(
    delay: str, granularity: str, interchange: str, reason: str
) -> None:
    with pytest.raises(HubError) as err:
        model.check_settlement_combination(delay, granularity, interchange)
    assert err.value.code.code == "3000"
    assert reason in err.value.description


def test_funds_in_debits_the_settlement_account_and_credits_hub_reconciliation() -> None:
    postings = model.funds_in_postings("t1", settlement_account_id=4, reconciliation_account_id=2, amount=50_000_000)
    assert [(p.account_id, p.change, p.entry_type) for p in postings] == [
        (4, -50_000_000, RECORD_FUNDS_IN), (2, 50_000_000, RECORD_FUNDS_IN)]


def test_funds_out_reserve_within_the_cover_raises_the_settlement_account() -> None:
    p = model.funds_out_reserve_posting("t2", settlement_account_id=4, settlement_value=-100, amount=100)
    assert (p.account_id, p.change, p.entry_type) == (4, 100, RECORD_FUNDS_OUT)


def test_funds_out_reserve_beyond_the_cover_is_refused_with_4001() -> None:
    with pytest.raises(HubError) as err:
        model.funds_out_reserve_posting("t3", settlement_account_id=4, settlement_value=-100, amount=101)
    assert err.value.code.code == "4001"
    assert "100" in err.value.description


def test_funds_out_commit_and_release_touch_one_side_each() -> None:
    commit = model.funds_out_commit_posting("t4", reconciliation_account_id=2, amount=7)
    release = model.funds_out_release_posting("t4", settlement_account_id=4, amount=7)
    assert (commit.account_id, commit.change) == (2, -7)
    assert (release.account_id, release.change) == (4, -7)


def _cmd(**kw: object) -> model.FundsCommand:
    base: dict[str, object] = dict(transfer_id="t", action="recordFundsIn", amount=50_000_000, currency="XXX",
                                   external_reference="ref", reason="deposit", extension_list=None)
    base.update(kw)
    return model.FundsCommand(**base)  # type: ignore[arg-type]


def test_request_hash_depends_on_meaning_not_spelling() -> None:
    assert _cmd().request_hash(4) == _cmd().request_hash(4)
    assert _cmd().request_hash(4) != _cmd(amount=50_000_001).request_hash(4)
    assert _cmd().request_hash(4) != _cmd().request_hash(5)
    assert _cmd().request_hash(4) != _cmd(reason="other").request_hash(4)


@pytest.mark.parametrize(
    ("units", "text"),
    [(0, "0"), (-50_000_000, "-5000"), (125_000, "12.5"), (1, "0.0001"), (10_000_000_000, "1000000"),
     (-1, "-0.0001"), (999_999_999_999_999_999, "99999999999999.9999")],
)
def test_amounts_render_as_exact_json_numbers(units: int, text: str) -> None:
    assert dumps({"value": Amount(units)}) == '{"value":' + text + "}"


@given(st.integers(min_value=-(10**18) + 1, max_value=10**18 - 1))
def test_rendered_amounts_parse_back_to_the_same_units(units: int) -> None:
    parsed = json.loads(dumps([Amount(units)]), parse_float=Decimal, parse_int=Decimal)[0]
    assert parsed * 10_000 == units


def test_exact_json_escapes_strings_and_refuses_floats() -> None:
    assert json.loads(dumps({"a\"b": ["x\n", None, True, 3]})) == {"a\"b": ["x\n", None, True, 3]}
    with pytest.raises(TypeError):
        dumps({"value": 1.5})
