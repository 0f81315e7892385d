"""Pure transfer rules: fulfilment check, duplicates, state mapping, and hypothesis runs of random
command sequences showing that money is conserved and a reservation resolves exactly once."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from mojahub.kernel.errors import ErrorCode
from mojahub.ledger.model import Posting
from mojahub.transfers import state
from mojahub.transfers.duplicates import Duplicate, body_hash, classify
from mojahub.transfers.model import (
    Abort,
    Effect,
    ErrorNotice,
    Forward,
    Fulfil,
    FulfilAction,
    Party,
    Prepare,
    StateNotice,
    Transfer,
    decide_abort,
    decide_expire,
    decide_fulfil,
    decide_get,
    fulfilment_matches,
    prepare_duplicate,
    rejected_prepare,
    reserved_prepare,
    validate_prepare,
)
from mojahub.transfers.positions import Limits, check_reserve
from mojahub.transfers.state import State
from tests.support.builders import T0, b64url, fulfilment_pair

PAYER = Party("payer", True, 1, True)
PAYEE = Party("payee", True, 2, True)


def _prepare(tid: str, amount: int = 100, condition: str | None = None, expires_in: float = 60,
             source: str = "payer") -> Prepare:
    return Prepare(tid, "payer", "payee", amount, "XXX", condition or fulfilment_pair()[1],
                   T0 + timedelta(seconds=expires_in), "AQAA", source, body_hash({"t": tid, "a": amount}),
                   b"{}", {})


def _fulfil(tid: str, fulfilment: str | None, *, action: FulfilAction = FulfilAction.COMMIT, version: str = "1.1",
            source: str = "payee", body: str = "x") -> Fulfil:
    return Fulfil(tid, source, "payer", action, fulfilment, T0, version, body_hash({"f": fulfilment, "b": body}),
                  b"{}", {})


def _reserved(cmd: Prepare) -> Transfer:
    effect = reserved_prepare(cmd, PAYER, PAYEE, now=T0)
    assert effect.transfer is not None
    return effect.transfer


def test_fulfilment_must_hash_to_the_condition_and_be_32_bytes() -> None:
    fulfilment, condition = fulfilment_pair()
    assert fulfilment_matches(fulfilment, condition)
    assert not fulfilment_matches(fulfilment_pair()[0], condition)
    assert not fulfilment_matches(b64url(b"short"), condition)
    assert not fulfilment_matches("!!not base64!!", condition)


def test_duplicates_are_classified_by_body_hash_and_state() -> None:
    h = body_hash({"a": 1, "b": [1, 2]})
    assert h == body_hash({"b": [1, 2], "a": 1})  # key order does not matter
    assert classify(None, h, settled=False) is Duplicate.NEW
    assert classify(h, h, settled=True) is Duplicate.RESEND
    assert classify(h, h, settled=False) is Duplicate.IGNORE
    assert classify(h, body_hash({"a": 2}), settled=True) is Duplicate.MODIFIED


def test_external_states_follow_the_fspiop_enumeration() -> None:
    assert state.external(State.RESERVED) == "RESERVED"
    assert state.external(State.EXPIRED_RESERVED) == "ABORTED"
    assert state.external(State.INVALID) == "ABORTED"
    assert state.is_final(State.COMMITTED)
    assert not state.is_final(State.RESERVED)


def test_prepare_validation_checks_source_first_and_on_us_only_when_allowed() -> None:
    cmd = _prepare("t1", source="payee")
    assert validate_prepare(cmd, PAYER, PAYEE, now=T0, allow_on_us=False) == "FSPIOP-Source header should match Payer"
    on_us = replace(_prepare("t2"), payee_fsp="PAYER")
    assert "should be different" in (validate_prepare(on_us, PAYER, PAYER, now=T0, allow_on_us=False) or "")
    assert validate_prepare(on_us, PAYER, PAYER, now=T0, allow_on_us=True) is None
    no_account = Party("payee", True, None, False)
    assert validate_prepare(_prepare("t3"), PAYER, no_account, now=T0, allow_on_us=False) == \
        "Participant payee XXX account not found"


def test_a_resent_prepare_answers_with_the_state_and_a_changed_one_with_3106() -> None:
    cmd = _prepare("t1")
    t = _reserved(cmd)
    [resend] = prepare_duplicate(t, cmd).notices
    assert isinstance(resend, StateNotice)
    assert (resend.to, resend.transfer_state) == ("payer", "RESERVED")
    [modified] = prepare_duplicate(t, replace(cmd, body_hash="other")).notices
    assert isinstance(modified, ErrorNotice)
    assert modified.code == "3106"


def test_rejected_prepare_moves_no_money_and_records_the_error() -> None:
    effect = rejected_prepare(_prepare("t1"), PAYER, PAYEE, ErrorCode.PAYER_LIMIT_ERROR, None, now=T0)
    assert effect.postings == []
    assert effect.transfer is not None
    assert effect.transfer.state is State.ABORTED_REJECTED
    assert effect.transfer.cause == "4200: Payer limit error"


def test_commit_notifications_depend_on_the_requested_state() -> None:
    fulfilment, condition = fulfilment_pair()
    t = _reserved(_prepare("t1", condition=condition))
    commit = decide_fulfil(t, _fulfil("t1", fulfilment), now=T0, confirm_to_payee=False)
    assert [type(n) for n in commit.notices] == [Forward]
    assert commit.postings == [Posting(2, -100, "PRINCIPLE_VALUE", "t1")]
    reserve = decide_fulfil(t, _fulfil("t1", fulfilment, action=FulfilAction.RESERVE), now=T0,
                            confirm_to_payee=False)
    assert [(type(n), getattr(n, "method", None)) for n in reserve.notices] == [
        (StateNotice, "PUT"), (StateNotice, "PATCH")]


def test_invalid_fulfilment_on_a_reserve_request_also_patches_the_payee_aborted() -> None:
    _, condition = fulfilment_pair()
    t = _reserved(_prepare("t1", condition=condition))
    effect = decide_fulfil(t, _fulfil("t1", fulfilment_pair()[0], action=FulfilAction.RESERVE), now=T0,
                           confirm_to_payee=True)
    assert effect.postings == [Posting(1, -100, "PRINCIPLE_VALUE", "t1")]
    patch = effect.notices[1]
    assert isinstance(patch, StateNotice)
    assert (patch.method, patch.transfer_state) == ("PATCH", "ABORTED")
    assert patch.cause == "3100: Generic validation error - invalid fulfilment"


def test_get_answers_only_payer_and_payee() -> None:
    t = _reserved(_prepare("t1"))
    assert isinstance(decide_get(t, "t1", "PAYEE"), StateNotice)
    other = decide_get(t, "t1", "other")
    assert isinstance(other, ErrorNotice)
    assert other.code == "3000"
    missing = decide_get(None, "t2", "payer")
    assert isinstance(missing, ErrorNotice)
    assert missing.code == "3208"


# -- hypothesis: random interleavings of the four commands ------------------------------------

ops = st.lists(
    st.tuples(st.sampled_from(["prepare", "fulfil", "bad_fulfil", "error", "expire", "resend", "tick"]),
              st.integers(0, 5), st.integers(1, 400)),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(ops=ops, ndc=st.integers(0, 1500))
def test_random_command_sequences_conserve_money_and_resolve_each_reservation_once(
    ops: list[tuple[str, int, int]], ndc: int
) -> None:
    transfers: dict[str, Transfer] = {}
    prepares: dict[str, Prepare] = {}
    secrets: dict[str, str] = {}
    positions = {1: 0, 2: 0}
    resolutions: Counter[str] = Counter()
    now = T0
    for op, n, amount in ops:
        tid = f"t{n}"
        t = transfers.get(tid)
        effect: Effect
        if op == "prepare" or (op == "resend" and tid in prepares):
            if t is not None:
                effect = prepare_duplicate(t, prepares[tid])
            else:
                fulfilment, condition = fulfilment_pair()
                secrets[tid] = fulfilment
                cmd = replace(_prepare(tid, amount, condition, expires_in=5), expires_at=now + timedelta(seconds=5))
                prepares[tid] = cmd
                error = check_reserve(positions[1], 0, Limits(10**9, ndc), amount)
                effect = (rejected_prepare(cmd, PAYER, PAYEE, error, None, now=now) if error
                          else reserved_prepare(cmd, PAYER, PAYEE, now=now))
        elif op == "fulfil":
            effect = decide_fulfil(t, _fulfil(tid, secrets.get(tid)), now=now, confirm_to_payee=True)
        elif op == "bad_fulfil":
            effect = decide_fulfil(t, _fulfil(tid, fulfilment_pair()[0], body="bad"), now=now,
                                   confirm_to_payee=True)
        elif op == "error":
            effect = decide_abort(t, Abort(tid, "payee", "payer", "5101", "no", "h", b"{}", {}), now=now)
        elif op == "expire":
            effect = decide_expire(t, now=now)
        else:
            now += timedelta(seconds=2)
            continue
        for p in effect.postings:
            positions[p.account_id] += p.change
        if effect.transfer is not None:
            before = t.state if t is not None else None
            if before is State.RESERVED and effect.transfer.state is not State.RESERVED:
                resolutions[tid] += 1
            transfers[tid] = effect.transfer
        assert positions[1] <= max(ndc, 0)
        reserved = sum(x.amount for x in transfers.values() if x.state is State.RESERVED)
        assert positions[1] + positions[2] == reserved
    assert all(count == 1 for count in resolutions.values())
    for tid, t in transfers.items():
        if state.is_final(t.state) and t.state is not State.ABORTED_REJECTED:
            assert resolutions[tid] == 1
