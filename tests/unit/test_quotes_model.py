"""Quote rules: duplicate handling and the participant checks (codes per quoting-service)."""

from __future__ import annotations

import pytest

from mojahub.kernel.errors import ErrorCode
from mojahub.quoting.model import (
    FspStanding,
    QuoteState,
    Resend,
    answer_allowed,
    check_quote_parties,
    on_repeated_request,
)


def test_same_body_while_in_flight_is_ignored() -> None:
    assert on_repeated_request("h1", QuoteState.RECEIVED, "h1") is Resend.IGNORE


@pytest.mark.parametrize("state", [QuoteState.ANSWERED, QuoteState.ERROR])
def test_same_body_after_the_answer_gets_the_answer_again(state: QuoteState) -> None:
    assert on_repeated_request("h1", state, "h1") is Resend.RESEND_ANSWER


@pytest.mark.parametrize("state", list(QuoteState))
def test_a_changed_body_with_the_same_id_is_a_modified_request(state: QuoteState) -> None:
    assert on_repeated_request("h1", state, "h2") is Resend.MODIFIED


def test_first_answer_is_recorded_same_answer_passed_again_other_answer_modified() -> None:
    assert answer_allowed(QuoteState.RECEIVED, None, "a") is Resend.IGNORE
    assert answer_allowed(QuoteState.ANSWERED, "a", "a") is Resend.RESEND_ANSWER
    assert answer_allowed(QuoteState.ANSWERED, "a", "b") is Resend.MODIFIED
    assert answer_allowed(QuoteState.ERROR, None, "a") is Resend.MODIFIED


def ok(name: str) -> FspStanding:
    return FspStanding(name, exists=True, active=True, has_active_account=True)


@pytest.mark.parametrize(
    ("payer", "payee", "code"),
    [
        (FspStanding("p", False, False, False), ok("q"), ErrorCode.PAYER_FSP_ID_NOT_FOUND),
        (FspStanding("p", True, False, True), ok("q"), ErrorCode.PAYER_FSP_ID_NOT_FOUND),
        (ok("p"), FspStanding("q", False, False, False), ErrorCode.PAYEE_FSP_ID_NOT_FOUND),
        (ok("p"), FspStanding("q", True, False, True), ErrorCode.PAYEE_FSP_ID_NOT_FOUND),
        (FspStanding("p", True, True, False), ok("q"), ErrorCode.PAYER_UNSUPPORTED_CURRENCY),
        (ok("p"), FspStanding("q", True, True, False), ErrorCode.PAYEE_UNSUPPORTED_CURRENCY),
    ],
)
def test_quote_participant_checks_name_the_failing_side(payer: FspStanding, payee: FspStanding,
                                                        code: ErrorCode) -> None:
    err = check_quote_parties(payer, payee, "XXX")
    assert err is not None
    assert err.code is code


def test_two_active_fsps_holding_the_currency_pass() -> None:
    assert check_quote_parties(ok("p"), ok("q"), "XXX") is None
