"""The transfer and its rules: pure decisions from (current transfer, command, now) to an
``Effect`` (the new transfer version, the postings, what participants must hear). No I/O, no clock.

The service folds a batch of commands over the transfers and positions it loaded under lock and
writes the effects in one transaction (transfers-and-ledger.md §3–§6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum

from mojahub.kernel import ilp
from mojahub.kernel.errors import ErrorCode, describe, is_defined
from mojahub.ledger.model import PRINCIPLE_VALUE, Posting
from mojahub.transfers import state as st
from mojahub.transfers.duplicates import Duplicate, classify
from mojahub.transfers.state import State

# ---------------------------------------------------------------------------------------------
# The transfer


@dataclass(frozen=True, slots=True)
class Transfer:
    transfer_id: str
    payer_fsp: str
    payee_fsp: str
    payer_account_id: int | None
    payee_account_id: int | None
    currency: str
    amount: int
    condition: str
    expires_at: datetime
    state: State
    prepare_hash: str
    created_at: datetime
    changed_at: datetime
    fulfil_hash: str | None = None
    error_hash: str | None = None
    fulfilment: str | None = None
    completed_at: datetime | None = None
    error_code: str | None = None
    error_description: str | None = None
    settlement_window_id: int | None = None

    @property
    def external_state(self) -> str:
        return st.external(self.state)

    @property
    def cause(self) -> str | None:
        """GET's `cause` extension of an aborted transfer: ``<code>: <description>``."""
        if self.external_state != st.ABORTED or self.error_code is None:
            return None
        return f"{self.error_code}: {self.error_description or ''}"[:128]


def fulfilment_matches(fulfilment: str, condition: str) -> bool:
    """FSPIOP §7.2: base64url(SHA-256(decode(fulfilment))) == condition; the preimage is 32 bytes."""
    try:
        return ilp.fulfilment_matches(fulfilment, condition)
    except ilp.IlpError:  # not base64url of 32 bytes: cannot be the preimage
        return False


# ---------------------------------------------------------------------------------------------
# Commands (built at the edge from FSPIOP requests)


class FulfilAction(Enum):
    COMMIT = "COMMIT"  # transferState COMMITTED
    RESERVE = "RESERVE"  # transferState RESERVED: commit, then PATCH the payee (v1.1)
    REJECT = "REJECT"  # transferState ABORTED in a PUT: not allowed, ignored (payee_abort_v1.1)


@dataclass(frozen=True, slots=True)
class Prepare:
    transfer_id: str
    payer_fsp: str
    payee_fsp: str
    amount: int
    currency: str
    condition: str
    expires_at: datetime
    ilp_packet: str
    source: str
    body_hash: str
    body: bytes  # forwarded to the payee unchanged
    forward_headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Fulfil:
    transfer_id: str
    source: str
    destination: str | None
    action: FulfilAction
    fulfilment: str | None
    completed_at: datetime | None
    content_version: str | None
    body_hash: str
    body: bytes
    forward_headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Abort:
    """``PUT /transfers/{id}/error`` from the payee."""

    transfer_id: str
    source: str
    destination: str | None
    error_code: str
    error_description: str
    body_hash: str
    body: bytes
    forward_headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Expire:
    transfer_id: str


Command = Prepare | Fulfil | Abort | Expire


# ---------------------------------------------------------------------------------------------
# What participants must hear (rendered into FSPIOP requests by the edge)


class Endpoint(Enum):
    POST = "FSPIOP_CALLBACK_URL_TRANSFER_POST"
    PUT = "FSPIOP_CALLBACK_URL_TRANSFER_PUT"
    ERROR = "FSPIOP_CALLBACK_URL_TRANSFER_ERROR"


@dataclass(frozen=True, slots=True)
class Forward:
    """A DFSP's message passed on with its body unchanged. ``headers`` None: the hub sends it
    under its own headers (e.g. the commit confirmation copy to the payee)."""

    to: str
    transfer_id: str
    endpoint: Endpoint
    method: str
    path: str
    headers: Mapping[str, str] | None
    body: bytes
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorNotice:
    """``PUT /transfers/{id}/error`` originated by the hub."""

    to: str
    transfer_id: str
    code: str
    description: str


@dataclass(frozen=True, slots=True)
class StateNotice:
    """``PUT /transfers/{id}`` (GET answer, duplicate resend) or ``PATCH`` (commit notification)
    originated by the hub, carrying the transfer's current state."""

    to: str
    transfer_id: str
    method: str
    transfer_state: str
    completed_at: datetime | None
    fulfilment: str | None
    cause: str | None


Notice = Forward | ErrorNotice | StateNotice


@dataclass(slots=True)
class Effect:
    transfer: Transfer | None = None  # the new version to store (None: unchanged)
    created: bool = False
    ilp_packet: str | None = None
    postings: list[Posting] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    committed: bool = False  # goes to the open settlement window
    reason: str | None = None  # state change reason (history)


def state_notice(t: Transfer, to: str, *, method: str = "PUT") -> StateNotice:
    return StateNotice(
        to=to,
        transfer_id=t.transfer_id,
        method=method,
        transfer_state=t.external_state,
        completed_at=t.completed_at,
        fulfilment=t.fulfilment if t.state == State.COMMITTED and method == "PUT" else None,
        cause=t.cause,
    )


def _error(to: str, transfer_id: str, code: ErrorCode, detail: str | None = None) -> ErrorNotice:
    return ErrorNotice(to, transfer_id, code.code, describe(code, detail))


def _same(a: str, b: str | None) -> bool:
    return b is not None and a.lower() == b.lower()


# ---------------------------------------------------------------------------------------------
# Prepare


@dataclass(frozen=True, slots=True)
class Party:
    """What prepare validation needs about payer or payee in the transfer's currency."""

    name: str
    active: bool
    position_account_id: int | None  # None: no POSITION account in the currency
    account_active: bool


def validate_prepare(
    cmd: Prepare, payer: Party | None, payee: Party | None, *, now: datetime, allow_on_us: bool
) -> str | None:
    """The first failing rule of transfers-and-ledger.md §3.3, as the 3100 detail; None if valid."""
    if not _same(cmd.source, cmd.payer_fsp):
        return "FSPIOP-Source header should match Payer"
    if cmd.amount <= 0:
        return "Amount must be greater than zero"
    if payer is None:
        return f"Participant {cmd.payer_fsp} not found"
    if not payer.active:
        return f"Participant {cmd.payer_fsp} is inactive"
    if payee is None:
        return f"Participant {cmd.payee_fsp} not found"
    if not payee.active:
        return f"Participant {cmd.payee_fsp} is inactive"
    if cmd.expires_at <= now:
        return f"Expiration date {cmd.expires_at.isoformat()} is already in the past"
    if not allow_on_us and cmd.payer_fsp.lower() == cmd.payee_fsp.lower():
        return "Payer FSP and Payee FSP should be different, unless on-us tranfers are allowed by the Scheme"
    for party in (payer, payee):
        if party.position_account_id is None:
            return f"Participant {party.name} {cmd.currency} account not found"
        if not party.account_active:
            return f"Participant {party.name} {cmd.currency} account is inactive"
    return None


def new_transfer(cmd: Prepare, payer: Party | None, payee: Party | None, state: State, *, now: datetime,
                 error: tuple[str, str] | None = None) -> Transfer:
    return Transfer(
        transfer_id=cmd.transfer_id,
        payer_fsp=cmd.payer_fsp,
        payee_fsp=cmd.payee_fsp,
        payer_account_id=payer.position_account_id if payer else None,
        payee_account_id=payee.position_account_id if payee else None,
        currency=cmd.currency,
        amount=cmd.amount,
        condition=cmd.condition,
        expires_at=cmd.expires_at,
        state=state,
        prepare_hash=cmd.body_hash,
        created_at=now,
        changed_at=now,
        completed_at=now if st.is_final(state) else None,
        error_code=error[0] if error else None,
        error_description=error[1] if error else None,
    )


def prepare_duplicate(existing: Transfer, cmd: Prepare) -> Effect:
    """A prepare for an id already stored (transfers-and-ledger.md §3.2)."""
    # Every stored transfer is past RECEIVED (validation and reservation are one transaction),
    # so the same body is always answered with the current state.
    dup = classify(existing.prepare_hash, cmd.body_hash, settled=True)
    if dup is Duplicate.MODIFIED:
        return Effect(notices=[_error(cmd.source, cmd.transfer_id, ErrorCode.MODIFIED_REQUEST)])
    return Effect(notices=[state_notice(existing, existing.payer_fsp)])


def rejected_prepare(cmd: Prepare, payer: Party | None, payee: Party | None, code: ErrorCode,
                     detail: str | None, *, now: datetime) -> Effect:
    """A prepare that failed validation (INVALID) or the liquidity/NDC check (ABORTED_REJECTED):
    stored, positions unchanged, the payer hears the error."""
    description = describe(code, detail)
    state = State.INVALID if code is ErrorCode.VALIDATION_ERROR else State.ABORTED_REJECTED
    t = new_transfer(cmd, payer, payee, state, now=now, error=(code.code, description))
    return Effect(
        transfer=t, created=True, ilp_packet=cmd.ilp_packet, reason=description,
        notices=[ErrorNotice(cmd.source, cmd.transfer_id, code.code, description)],
    )


def reserved_prepare(cmd: Prepare, payer: Party, payee: Party, *, now: datetime) -> Effect:
    assert payer.position_account_id is not None
    t = new_transfer(cmd, payer, payee, State.RESERVED, now=now)
    return Effect(
        transfer=t, created=True, ilp_packet=cmd.ilp_packet,
        postings=[Posting(payer.position_account_id, cmd.amount, PRINCIPLE_VALUE, cmd.transfer_id)],
        notices=[Forward(
            to=cmd.payee_fsp, transfer_id=cmd.transfer_id, endpoint=Endpoint.POST, method="POST",
            path="/transfers", headers=cmd.forward_headers, body=cmd.body, origin=cmd.payer_fsp,
        )],
    )


# ---------------------------------------------------------------------------------------------
# Abort paths shared by fulfil, payee error and expiry


def _release(t: Transfer) -> list[Posting]:
    assert t.payer_account_id is not None
    return [Posting(t.payer_account_id, -t.amount, PRINCIPLE_VALUE, t.transfer_id)]


def _aborted(t: Transfer, state: State, code: str, description: str, *, now: datetime,
             **changes: object) -> Transfer:
    return replace(t, state=state, error_code=code, error_description=description[:128],
                   completed_at=now, changed_at=now, **changes)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Fulfil (PUT /transfers/{id})


def decide_fulfil(t: Transfer | None, cmd: Fulfil, *, now: datetime, confirm_to_payee: bool) -> Effect:
    """transfers-and-ledger.md §4.1–§4.3."""
    if cmd.action is FulfilAction.REJECT:
        # A PUT with ABORTED is not allowed (v1.1: use /error); the reference ignores it.
        return Effect()
    if cmd.action is FulfilAction.RESERVE and cmd.content_version == "1.0":
        # v1.0 has no commit notification: a RESERVED state from a 1.0 client is ignored.
        return Effect()
    if t is None:
        return Effect(notices=[_error(cmd.source, cmd.transfer_id, ErrorCode.TRANSFER_ID_NOT_FOUND,
                                      "Provided Transfer ID was not found on the server.")])
    if not _same(cmd.source, t.payee_fsp) or (cmd.destination is not None and not _same(cmd.destination, t.payer_fsp)):
        detail = ("FSPIOP-Source does not match payee fsp on the Fulfil callback response"
                  if not _same(cmd.source, t.payee_fsp)
                  else "FSPIOP-Destination does not match payer fsp on the Fulfil callback response")
        if t.state != State.RESERVED:
            return Effect(notices=[_error(cmd.source, t.transfer_id, ErrorCode.VALIDATION_ERROR, detail)])
        return _abort_invalid_fulfil(t, cmd, detail, now=now, confirm_to_payee=False)

    dup = classify(t.fulfil_hash, cmd.body_hash, settled=st.is_final(t.state))
    if dup is Duplicate.MODIFIED:
        return Effect(notices=[_error(cmd.source, t.transfer_id, ErrorCode.MODIFIED_REQUEST)])
    if dup is Duplicate.RESEND:
        return Effect(notices=[state_notice(t, cmd.source)])
    if dup is Duplicate.IGNORE:
        return Effect()

    if t.state != State.RESERVED:
        if t.state in (State.EXPIRED_RESERVED, State.EXPIRED_PREPARED) or t.expires_at <= now:
            return _late(t, cmd)
        return Effect(notices=[_error(cmd.source, t.transfer_id, ErrorCode.VALIDATION_ERROR,
                                      f"Transfer is {t.external_state}, not RESERVED")])
    if cmd.fulfilment is None:
        return _abort_invalid_fulfil(t, cmd, "fulfilment is required to commit", now=now,
                                     confirm_to_payee=confirm_to_payee)
    if not fulfilment_matches(cmd.fulfilment, t.condition):
        return _abort_invalid_fulfil(t, cmd, "invalid fulfilment", now=now, confirm_to_payee=confirm_to_payee)
    if t.expires_at <= now:
        return _late(t, cmd)

    committed = replace(t, state=State.COMMITTED, fulfilment=cmd.fulfilment, fulfil_hash=cmd.body_hash,
                        completed_at=cmd.completed_at or now, changed_at=now)
    assert t.payee_account_id is not None
    effect = Effect(
        transfer=committed, committed=True,
        postings=[Posting(t.payee_account_id, -t.amount, PRINCIPLE_VALUE, t.transfer_id)],
    )
    if cmd.action is FulfilAction.RESERVE:
        # v1.1 commit notification: the payer hears the committed state from the hub, the payee a PATCH.
        effect.notices += [state_notice(committed, t.payer_fsp), state_notice(committed, t.payee_fsp, method="PATCH")]
    else:
        effect.notices.append(Forward(
            to=t.payer_fsp, transfer_id=t.transfer_id, endpoint=Endpoint.PUT, method="PUT",
            path=f"/transfers/{t.transfer_id}", headers=cmd.forward_headers, body=cmd.body,
        ))
        if confirm_to_payee:
            effect.notices.append(Forward(
                to=t.payee_fsp, transfer_id=t.transfer_id, endpoint=Endpoint.PUT, method="PUT",
                path=f"/transfers/{t.transfer_id}", headers=None, body=cmd.body,
            ))
    return effect


def _late(t: Transfer, cmd: Fulfil) -> Effect:
    """A fulfil after expiry: 3303 to the payee; the sweeper aborts and tells the payer."""
    notices: list[Notice] = [_error(cmd.source, t.transfer_id, ErrorCode.TRANSFER_EXPIRED)]
    if cmd.action is FulfilAction.RESERVE:
        notices.append(StateNotice(t.payee_fsp, t.transfer_id, "PATCH", st.ABORTED, t.completed_at, None,
                                   f"{ErrorCode.TRANSFER_EXPIRED.code}: {ErrorCode.TRANSFER_EXPIRED.description}"))
    return Effect(notices=notices)


def _abort_invalid_fulfil(t: Transfer, cmd: Fulfil, detail: str, *, now: datetime,
                          confirm_to_payee: bool) -> Effect:
    description = describe(ErrorCode.VALIDATION_ERROR, detail)
    code = ErrorCode.VALIDATION_ERROR.code
    aborted = _aborted(t, State.ABORTED_ERROR, code, description, now=now, fulfil_hash=cmd.body_hash)
    notices: list[Notice] = [ErrorNotice(t.payer_fsp, t.transfer_id, code, description)]
    if cmd.action is FulfilAction.RESERVE:
        notices.append(state_notice(aborted, t.payee_fsp, method="PATCH"))
    elif confirm_to_payee:
        notices.append(ErrorNotice(t.payee_fsp, t.transfer_id, code, description))
    return Effect(transfer=aborted, postings=_release(t), notices=notices, reason=description)


# ---------------------------------------------------------------------------------------------
# Payee error (PUT /transfers/{id}/error)


def decide_abort(t: Transfer | None, cmd: Abort, *, now: datetime) -> Effect:
    if t is None:
        return Effect(notices=[_error(cmd.source, cmd.transfer_id, ErrorCode.TRANSFER_ID_NOT_FOUND,
                                      "Provided Transfer ID was not found on the server.")])
    if not _same(cmd.source, t.payee_fsp):
        return Effect(notices=[_error(cmd.source, t.transfer_id, ErrorCode.VALIDATION_ERROR,
                                      "FSPIOP-Source does not match payee fsp on the Abort callback")])
    dup = classify(t.error_hash, cmd.body_hash, settled=st.is_final(t.state))
    if dup is Duplicate.MODIFIED:
        return Effect(notices=[_error(cmd.source, t.transfer_id, ErrorCode.MODIFIED_REQUEST)])
    if dup is Duplicate.RESEND:
        return Effect(notices=[state_notice(t, cmd.source)])
    if dup is Duplicate.IGNORE:
        return Effect()
    if t.state != State.RESERVED:
        if t.state == State.EXPIRED_RESERVED:
            return Effect(notices=[_error(cmd.source, t.transfer_id, ErrorCode.TRANSFER_EXPIRED)])
        return Effect(notices=[_error(cmd.source, t.transfer_id, ErrorCode.VALIDATION_ERROR,
                                      f"Transfer is {t.external_state}, not RESERVED")])
    notices: list[Notice]
    if is_defined(cmd.error_code):
        code, description = cmd.error_code, cmd.error_description
        notices = [Forward(
            to=t.payer_fsp, transfer_id=t.transfer_id, endpoint=Endpoint.ERROR, method="PUT",
            path=f"/transfers/{t.transfer_id}/error", headers=cmd.forward_headers, body=cmd.body,
        )]
    else:
        code = ErrorCode.VALIDATION_ERROR.code
        description = describe(ErrorCode.VALIDATION_ERROR, "API specification undefined errorCode")
        notices = [ErrorNotice(t.payer_fsp, t.transfer_id, code, description)]
    aborted = _aborted(t, State.ABORTED_ERROR, code, description, now=now, error_hash=cmd.body_hash)
    return Effect(transfer=aborted, postings=_release(t), notices=notices, reason=description)


# ---------------------------------------------------------------------------------------------
# Expiry


def decide_expire(t: Transfer | None, *, now: datetime, cutoff: datetime | None = None) -> Effect:
    """A reserved transfer whose expiration is at or before ``cutoff`` (default ``now``) is aborted
    with 3303 to payer and payee; anything else (already resolved: a fulfil won the race) is left
    alone."""
    if t is None or t.state != State.RESERVED or t.expires_at > (cutoff or now):
        return Effect()
    code = ErrorCode.TRANSFER_EXPIRED
    expired = _aborted(t, State.EXPIRED_RESERVED, code.code, code.description, now=now)
    return Effect(
        transfer=expired, postings=_release(t), reason=code.description,
        notices=[ErrorNotice(t.payer_fsp, t.transfer_id, code.code, code.description),
                 ErrorNotice(t.payee_fsp, t.transfer_id, code.code, code.description)],
    )


# ---------------------------------------------------------------------------------------------
# GET /transfers/{id}


def decide_get(t: Transfer | None, transfer_id: str, requester: str) -> Notice:
    if t is None:
        return _error(requester, transfer_id, ErrorCode.TRANSFER_ID_NOT_FOUND,
                      "Provided Transfer ID was not found on the server.")
    if not (_same(requester, t.payer_fsp) or _same(requester, t.payee_fsp)):
        return _error(requester, transfer_id, ErrorCode.CLIENT_ERROR,
                      "Requester is neither the payer nor the payee of the transfer")
    return state_notice(t, requester)
