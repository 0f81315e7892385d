"""Quote use cases. Each runs in one write transaction: check, record, enqueue the forward (or the
error callback) in the outbox. The wire form of every outgoing message (FSPIOP headers, error
bodies) is built by the caller at the edge and handed in as ready messages or factories, so this
context never imports ``fspiop``.

``GET /quotes/{ID}`` is forwarded to the payee (reference quoting-service behaviour: quotes are
end-to-end and the payee is the authority on a quote's validity; fspiop.md §3.4/§8); the store
only supplies the route when the request carries no FSPIOP-Destination.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import structlog
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.participants.service import clearing_accounts, find_participant
from mojahub.quoting.model import (
    FspStanding,
    QuoteAnswer,
    QuoteRequest,
    QuoteState,
    Resend,
    UnitsMoney,
    answer_allowed,
    check_quote_parties,
    on_repeated_request,
)
from mojahub.quoting.tables import quote
from mojahub.storage.engine import Database
from mojahub.storage.outbox import OutboundMessage, enqueue

log = structlog.get_logger(__name__)

ErrorFactory = Callable[[HubError], OutboundMessage]
ForwardFactory = Callable[[str], OutboundMessage]  # recipient FSP -> the forwarded message


class Outcome(StrEnum):
    FORWARDED = "FORWARDED"
    IGNORED = "IGNORED"  # duplicate of a request still in flight
    RESENT = "RESENT"  # duplicate of a finished request: stored answer sent again
    REJECTED = "REJECTED"  # an error callback was enqueued instead
    DROPPED = "DROPPED"


@dataclass(frozen=True, slots=True)
class StoredQuote:
    quote_id: str
    payer_fsp: str
    payee_fsp: str
    state: QuoteState
    request_hash: str
    answer_hash: str | None
    answer_path: str | None
    answer_headers: dict[str, str] | None
    answer_body: bytes | None
    amount: int
    currency: str
    transfer_amount: int | None
    condition: str | None
    ilp_packet: str | None
    answer_expires_at: datetime | None
    error_code: str | None


async def load_quote(conn: AsyncConnection, quote_id: str) -> StoredQuote | None:
    row = (await conn.execute(select(quote).where(quote.c.quote_id == quote_id))).first()
    if row is None:
        return None
    return StoredQuote(
        quote_id=row.quote_id,
        payer_fsp=row.payer_fsp,
        payee_fsp=row.payee_fsp,
        state=QuoteState(row.state),
        request_hash=row.request_hash,
        answer_hash=row.answer_hash,
        answer_path=row.answer_path,
        answer_headers=dict(row.answer_headers) if row.answer_headers is not None else None,
        answer_body=row.answer_body,
        amount=row.amount,
        currency=row.currency,
        transfer_amount=row.transfer_amount,
        condition=row.condition,
        ilp_packet=row.ilp_packet,
        answer_expires_at=row.answer_expires_at,
        error_code=row.error_code,
    )


async def _standing(conn: AsyncConnection, name: str, currency: str) -> FspStanding:
    found = await find_participant(conn, name)
    if found is None:
        return FspStanding(name, exists=False, active=False, has_active_account=False)
    accounts = await clearing_accounts(conn, name, currency)
    has_account = accounts is not None and accounts.position_account_active
    return FspStanding(name, exists=True, active=found.is_active, has_active_account=has_account)


def _stored_answer(stored: StoredQuote) -> OutboundMessage | None:
    """The answer forwarded to the payer, exactly as it was sent."""
    if stored.answer_path is None or stored.answer_headers is None:
        return None
    return OutboundMessage(
        recipient=stored.payer_fsp,
        endpoint_type="FSPIOP_CALLBACK_URL_QUOTES",
        method="PUT",
        path=stored.answer_path,
        headers=stored.answer_headers,
        body=stored.answer_body,
        request_id=stored.quote_id,
    )


async def request_quote(
    db: Database,
    *,
    request: QuoteRequest,
    payer_fsp: str,
    payee_fsp: str,
    request_hash: str,
    forward: OutboundMessage,
    error_to_payer: ErrorFactory,
    now: datetime,
) -> Outcome:
    """``POST /quotes``: check both FSPs, record the quote and forward it to the payee."""
    try:
        return await _request_quote(db, request, payer_fsp, payee_fsp, request_hash, forward, error_to_payer, now)
    except IntegrityError:
        # The same quote id inserted concurrently: run again, it is now a duplicate.
        return await _request_quote(db, request, payer_fsp, payee_fsp, request_hash, forward, error_to_payer, now)


async def _request_quote(
    db: Database,
    request: QuoteRequest,
    payer_fsp: str,
    payee_fsp: str,
    request_hash: str,
    forward: OutboundMessage,
    error_to_payer: ErrorFactory,
    now: datetime,
) -> Outcome:
    async with db.write() as conn:
        stored = await load_quote(conn, request.quote_id)
        if stored is not None:
            decision = on_repeated_request(stored.request_hash, stored.state, request_hash)
            if decision is Resend.MODIFIED:
                # FSPIOP: a resend with a different body is 3106.
                err = HubError(ErrorCode.MODIFIED_REQUEST, f"quote {request.quote_id} was sent with another body")
                await enqueue(conn, [error_to_payer(err)], now=now)
                return Outcome.REJECTED
            if decision is Resend.IGNORE:
                return Outcome.IGNORED
            again = _stored_answer(stored)
            if again is None:
                return Outcome.IGNORED
            await enqueue(conn, [again], now=now)
            return Outcome.RESENT

        payer = await _standing(conn, payer_fsp, request.amount.currency)
        payee = await _standing(conn, payee_fsp, request.amount.currency)
        problem = check_quote_parties(payer, payee, request.amount.currency)
        if problem is not None:
            await enqueue(conn, [error_to_payer(problem)], now=now)
            return Outcome.REJECTED

        await conn.execute(
            insert(quote).values(
                quote_id=request.quote_id,
                transaction_id=request.transaction_id,
                transaction_request_id=request.transaction_request_id,
                payer_fsp=payer_fsp,
                payee_fsp=payee_fsp,
                amount_type=request.amount_type,
                amount=request.amount.units,
                currency=request.amount.currency,
                fees=request.fees.units if request.fees else None,
                fees_currency=request.fees.currency if request.fees else None,
                scenario=request.scenario,
                initiator=request.initiator,
                initiator_type=request.initiator_type,
                expires_at=request.expires_at,
                state=QuoteState.RECEIVED.value,
                request_hash=request_hash,
                created_at=now,
                changed_at=now,
            )
        )
        await enqueue(conn, [forward], now=now)
        return Outcome.FORWARDED


async def answer_quote(
    db: Database,
    *,
    quote_id: str,
    source: str,
    destination: str | None,
    answer: QuoteAnswer,
    answer_hash: str,
    forward_to: ForwardFactory,
    error_to_sender: ErrorFactory,
    now: datetime,
) -> Outcome:
    """``PUT /quotes/{ID}`` from the payee: record the answer and forward it to the payer."""
    async with db.write() as conn:
        stored = await load_quote(conn, quote_id)
        if stored is None:
            # Not seen by this hub (e.g. recorded elsewhere): quotes are end-to-end, pass it on.
            if destination is None:
                await enqueue(conn, [error_to_sender(HubError(ErrorCode.QUOTE_ID_NOT_FOUND, quote_id))], now=now)
                return Outcome.REJECTED
            await enqueue(conn, [forward_to(destination)], now=now)
            return Outcome.FORWARDED
        if source != stored.payee_fsp:
            err = HubError(ErrorCode.CLIENT_ERROR, f"FSPIOP-Source {source!r} is not the payee of quote {quote_id}")
            await enqueue(conn, [error_to_sender(err)], now=now)
            return Outcome.REJECTED
        decision = answer_allowed(stored.state, stored.answer_hash, answer_hash)
        if decision is Resend.MODIFIED:
            err = HubError(ErrorCode.MODIFIED_REQUEST, f"quote {quote_id} was already answered differently")
            await enqueue(conn, [error_to_sender(err)], now=now)
            return Outcome.REJECTED
        message = forward_to(stored.payer_fsp)
        if decision is Resend.RESEND_ANSWER:
            await enqueue(conn, [message], now=now)
            return Outcome.RESENT
        changed = await conn.execute(
            update(quote)
            .where(quote.c.quote_id == quote_id, quote.c.state == QuoteState.RECEIVED.value)
            .values(
                state=QuoteState.ANSWERED.value,
                transfer_amount=answer.transfer_amount.units,
                transfer_currency=answer.transfer_amount.currency,
                payee_receive_amount=_units(answer.payee_receive_amount),
                payee_receive_currency=_currency(answer.payee_receive_amount),
                payee_fsp_fee=_units(answer.payee_fsp_fee),
                payee_fsp_fee_currency=_currency(answer.payee_fsp_fee),
                payee_fsp_commission=_units(answer.payee_fsp_commission),
                payee_fsp_commission_currency=_currency(answer.payee_fsp_commission),
                answer_expires_at=answer.expires_at,
                ilp_packet=answer.ilp_packet,
                condition=answer.condition,
                answer_hash=answer_hash,
                answer_path=message.path,
                answer_headers=dict(message.headers),
                answer_body=message.body,
                answered_at=now,
                changed_at=now,
            )
        )
        # Compare-and-set: on SQLite the write lock and on PostgreSQL the row lock of the update
        # serialise answers; a lost race means another answer was recorded in between.
        if changed.rowcount != 1:
            err = HubError(ErrorCode.MODIFIED_REQUEST, f"quote {quote_id} was answered concurrently")
            await enqueue(conn, [error_to_sender(err)], now=now)
            return Outcome.REJECTED
        await enqueue(conn, [message], now=now)
        return Outcome.FORWARDED


async def reject_quote(
    db: Database,
    *,
    quote_id: str,
    source: str,
    destination: str | None,
    error_code: str,
    error_description: str,
    forward_to: ForwardFactory,
    now: datetime,
) -> Outcome:
    """``PUT /quotes/{ID}/error``: record the error (first answer wins) and forward it."""
    async with db.write() as conn:
        stored = await load_quote(conn, quote_id)
        if stored is None:
            if destination is None:
                log.warning("quote.error_for_unknown_quote_dropped", quote_id=quote_id, source=source)
                return Outcome.DROPPED
            await enqueue(conn, [forward_to(destination)], now=now)
            return Outcome.FORWARDED
        recipient = stored.payer_fsp if source == stored.payee_fsp else stored.payee_fsp
        message = forward_to(recipient)
        if stored.state is QuoteState.RECEIVED and source == stored.payee_fsp:
            await conn.execute(
                update(quote)
                .where(quote.c.quote_id == quote_id, quote.c.state == QuoteState.RECEIVED.value)
                .values(
                    state=QuoteState.ERROR.value,
                    error_code=error_code,
                    error_description=error_description[:128],
                    answer_path=message.path,
                    answer_headers=dict(message.headers),
                    answer_body=message.body,
                    answered_at=now,
                    changed_at=now,
                )
            )
        await enqueue(conn, [message], now=now)
        return Outcome.FORWARDED


async def get_quote(
    db: Database,
    *,
    quote_id: str,
    requester: str,
    destination: str | None,
    forward_to: ForwardFactory,
    error_to_requester: ErrorFactory,
    now: datetime,
) -> Outcome:
    """``GET /quotes/{ID}``: forwarded to the payee (or the FSPIOP-Destination given)."""
    async with db.write() as conn:
        recipient = destination
        if recipient is None:
            stored = await load_quote(conn, quote_id)
            if stored is None:
                err = HubError(ErrorCode.QUOTE_ID_NOT_FOUND, f"quote {quote_id} is not known to the hub")
                await enqueue(conn, [error_to_requester(err)], now=now)
                return Outcome.REJECTED
            recipient = stored.payee_fsp if requester != stored.payee_fsp else stored.payer_fsp
        await enqueue(conn, [forward_to(recipient)], now=now)
        return Outcome.FORWARDED


def _units(money: UnitsMoney | None) -> int | None:
    return money.units if money is not None else None


def _currency(money: UnitsMoney | None) -> str | None:
    return money.currency if money is not None else None


__all__ = [
    "Outcome",
    "StoredQuote",
    "answer_quote",
    "get_quote",
    "load_quote",
    "reject_quote",
    "request_quote",
]
