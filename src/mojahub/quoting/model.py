"""Quotes: pure rules (no I/O, no clock). The hub does not compute quotes — fees, amounts and the
condition are end-to-end between the FSPs — it checks the two FSPs, records request and answer,
detects duplicates and routes (reference fspiop.md §3.4, §8).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mojahub.kernel.errors import ErrorCode, HubError


@dataclass(frozen=True, slots=True)
class UnitsMoney:
    """An amount in hub units (1/10,000) and its currency."""

    units: int
    currency: str


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    """What the hub keeps of a ``POST /quotes``."""

    quote_id: str
    transaction_id: str
    transaction_request_id: str | None
    payer_fsp_in_body: str | None
    payee_fsp_in_body: str | None
    amount_type: str
    amount: UnitsMoney
    fees: UnitsMoney | None
    scenario: str
    initiator: str
    initiator_type: str
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class QuoteAnswer:
    """What the hub keeps of a ``PUT /quotes/{ID}``."""

    transfer_amount: UnitsMoney
    payee_receive_amount: UnitsMoney | None
    payee_fsp_fee: UnitsMoney | None
    payee_fsp_commission: UnitsMoney | None
    expires_at: datetime
    ilp_packet: str
    condition: str


class QuoteState(StrEnum):
    RECEIVED = "RECEIVED"  # forwarded to the payee, no answer yet
    ANSWERED = "ANSWERED"  # PUT /quotes/{ID} received and forwarded to the payer
    ERROR = "ERROR"  # PUT /quotes/{ID}/error received and forwarded to the payer


class Resend(StrEnum):
    IGNORE = "IGNORE"
    RESEND_ANSWER = "RESEND_ANSWER"
    MODIFIED = "MODIFIED"


def on_repeated_request(stored_hash: str, state: QuoteState, new_hash: str) -> Resend:
    """FSPIOP §3.2.5 (reference fspiop.md §1): the same body again is not a new quote — ignored
    while in flight, answered again when finished; a changed body with the same id is 3106."""
    if stored_hash != new_hash:
        return Resend.MODIFIED
    if state is QuoteState.RECEIVED:
        return Resend.IGNORE
    return Resend.RESEND_ANSWER


@dataclass(frozen=True, slots=True)
class FspStanding:
    """What the quote check needs to know about one FSP in the quote currency."""

    name: str
    exists: bool
    active: bool
    has_active_account: bool


def check_quote_parties(payer: FspStanding, payee: FspStanding, currency: str) -> HubError | None:
    """Both FSPs must exist, be active and hold an active position account in the quote
    currency (quoting-service rules: payer/payee not found → 3202/3203; no active account in the
    currency → 4103 payer / 5106 payee)."""
    if not payer.exists or not payer.active:
        state = "not found" if not payer.exists else "inactive"
        return HubError(ErrorCode.PAYER_FSP_ID_NOT_FOUND, f"payer FSP {payer.name!r} {state}")
    if not payee.exists or not payee.active:
        state = "not found" if not payee.exists else "inactive"
        return HubError(ErrorCode.PAYEE_FSP_ID_NOT_FOUND, f"payee FSP {payee.name!r} {state}")
    if not payer.has_active_account:
        return HubError(ErrorCode.PAYER_UNSUPPORTED_CURRENCY, f"payer FSP has no active {currency} account")
    if not payee.has_active_account:
        return HubError(ErrorCode.PAYEE_UNSUPPORTED_CURRENCY, f"payee FSP has no active {currency} account")
    return None


def answer_allowed(state: QuoteState, stored_answer_hash: str | None, new_hash: str) -> Resend:
    """A payee answer (PUT) to a quote: the first is recorded; the same answer again is passed on
    again; a different answer (or an answer after an error) is a modified request (3106)."""
    if state is QuoteState.RECEIVED:
        return Resend.IGNORE  # not a resend: record it
    if stored_answer_hash == new_hash:
        return Resend.RESEND_ANSWER
    return Resend.MODIFIED
