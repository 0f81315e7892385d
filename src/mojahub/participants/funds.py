"""Funds in and two-phase funds out (central-ledger ``recordFundsIn``,
``recordFundsOutPrepareReserve`` / ``recordFundsOutCommit`` / ``recordFundsOutAbort``).

Each movement is an internal transfer between the DFSP's SETTLEMENT account and the hub's
HUB_RECONCILIATION account of the currency, posted through ``ledger.service.post`` with the
postings of transfers-and-ledger.md §7. central-ledger answers 202 and processes on Kafka; we do
the work in the request's transaction, so when the 202 leaves the balances already show it.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.kernel.clock import Clock
from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.ledger import service as ledger
from mojahub.participants import model
from mojahub.participants.model import FundsCommand
from mojahub.participants.service import hub_account_id, require_participant
from mojahub.participants.tables import account, funds_transfer, ledger_account_type
from mojahub.storage.engine import DB_ERRORS, Database

log = structlog.get_logger(__name__)
# A failed round is logged and the next one tries again.
_ROUND_ERRORS: tuple[type[Exception], ...] = (*DB_ERRORS, OSError)


class Outcome(enum.Enum):
    DONE = "done"
    DUPLICATE = "duplicate"  # same transferId, same request: nothing to do
    IGNORED = "ignored"  # commit/abort of a transfer that is no longer RESERVED
    EXPIRED = "expired"  # the reservation had expired: released instead


@dataclass(frozen=True, slots=True)
class _Target:
    participant_id: int
    account_id: int
    currency: str
    reconciliation_account_id: int


async def _target(conn: AsyncConnection, *, hub_name: str, name: str, account_id: int,
                  currency: str | None) -> _Target:
    """The checks central-ledger makes before accepting a funds movement (2001 / HTTP 500)."""
    found = await require_participant(conn, name)
    if not found.is_active:
        raise HubError(ErrorCode.INTERNAL_SERVER_ERROR, "Participant is currently set inactive")
    row = (
        await conn.execute(
            select(account.c.participant_id, account.c.currency, account.c.is_active,
                   ledger_account_type.c.name.label("lat"))
            .select_from(account.join(ledger_account_type,
                                      ledger_account_type.c.id == account.c.ledger_account_type_id))
            .where(account.c.id == account_id)
        )
    ).first()
    if row is None or row.participant_id != found.id or (currency is not None and row.currency != currency):
        raise HubError(ErrorCode.INTERNAL_SERVER_ERROR,
                       "The account does not match participant or currency specified")
    if not row.is_active:
        raise HubError(ErrorCode.INTERNAL_SERVER_ERROR, "Account is currently set inactive")
    if row.lat != model.SETTLEMENT:
        raise HubError(ErrorCode.INTERNAL_SERVER_ERROR, "Account is not SETTLEMENT type")
    reconciliation = await hub_account_id(conn, hub_name, row.currency, model.HUB_RECONCILIATION)
    if reconciliation is None:
        raise HubError(ErrorCode.INTERNAL_SERVER_ERROR,
                       "Hub reconciliation account for the specified currency does not exist")
    return _Target(found.id, account_id, row.currency, int(reconciliation))


async def record_funds(conn: AsyncConnection, cmd: FundsCommand, *, hub_name: str, name: str, account_id: int,
                       now: datetime, validity: timedelta) -> Outcome:
    """``POST /participants/{name}/accounts/{id}``: funds in, or reserve a funds out."""
    assert cmd.action in model.FUNDS_ACTIONS
    target = await _target(conn, hub_name=hub_name, name=name, account_id=account_id, currency=cmd.currency)
    # Lock first: two requests for one account (a resend racing its original) are serialised
    # here, so the duplicate check below sees the other's committed row (PostgreSQL READ COMMITTED).
    locked = await ledger.lock(conn, [target.account_id, target.reconciliation_account_id])
    request_hash = cmd.request_hash(account_id)
    previous = (
        await conn.execute(
            select(funds_transfer.c.request_hash).where(funds_transfer.c.transfer_id == cmd.transfer_id)
        )
    ).first()
    if previous is not None:
        if previous.request_hash == request_hash:
            return Outcome.DUPLICATE
        # Decision (docs/decisions/0002-admin-api-and-funds.md): central-ledger ignores a changed resend
        # silently; we tell the operator instead.
        log.warning("funds.modified_resend", transfer_id=cmd.transfer_id)
        raise HubError(ErrorCode.MODIFIED_REQUEST,
                       f"transferId {cmd.transfer_id} was already used for a different funds movement")
    if cmd.action == model.RECORD_FUNDS_IN_ACTION:
        postings = model.funds_in_postings(cmd.transfer_id, settlement_account_id=target.account_id,
                                           reconciliation_account_id=target.reconciliation_account_id,
                                           amount=cmd.amount)
        state = model.COMMITTED
    else:
        postings = [model.funds_out_reserve_posting(
            cmd.transfer_id, settlement_account_id=target.account_id,
            settlement_value=locked[target.account_id].value, amount=cmd.amount,
        )]
        state = model.RESERVED
    await ledger.post(conn, postings, now=now, locked=locked)
    await conn.execute(
        insert(funds_transfer).values(
            transfer_id=cmd.transfer_id, participant_id=target.participant_id, account_id=target.account_id,
            hub_account_id=target.reconciliation_account_id, action=cmd.action, amount=cmd.amount,
            currency=target.currency, state=state, external_reference=cmd.external_reference, reason=cmd.reason,
            extension_list=dict(cmd.extension_list) if cmd.extension_list is not None else None,
            request_hash=request_hash, expires_at=now + validity, created_at=now, changed_at=now,
        )
    )
    return Outcome.DONE


async def resolve_funds_out(conn: AsyncConnection, *, hub_name: str, name: str, account_id: int, transfer_id: str,
                            action: str, reason: str, now: datetime) -> Outcome:
    """``PUT /participants/{name}/accounts/{id}/transfers/{transferId}``: commit or abort a reserved
    funds out. Acts only on a RESERVED, unexpired transfer; an expired one is released instead."""
    assert action in model.FUNDS_OUT_RESOLUTIONS
    target = await _target(conn, hub_name=hub_name, name=name, account_id=account_id, currency=None)
    stmt = select(funds_transfer).where(funds_transfer.c.transfer_id == transfer_id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    if row is None or row.account_id != target.account_id or \
            row.action != model.RECORD_FUNDS_OUT_PREPARE_RESERVE:
        raise HubError(ErrorCode.TRANSFER_ID_NOT_FOUND,
                       f"no funds out {transfer_id} reserved on account {account_id}")
    if row.state != model.RESERVED:
        return Outcome.IGNORED
    expired = model.is_expired(row.expires_at, now)
    if action == model.RECORD_FUNDS_OUT_COMMIT and not expired:
        posting = model.funds_out_commit_posting(transfer_id, reconciliation_account_id=row.hub_account_id,
                                                 amount=row.amount)
        new_state = model.COMMITTED
    else:
        posting = model.funds_out_release_posting(transfer_id, settlement_account_id=row.account_id,
                                                  amount=row.amount)
        new_state = model.EXPIRED if expired else model.ABORTED
    changed = await conn.execute(
        update(funds_transfer)
        .where(and_(funds_transfer.c.transfer_id == transfer_id, funds_transfer.c.state == model.RESERVED))
        .values(state=new_state, reason=reason, changed_at=now)
    )
    if changed.rowcount != 1:  # compare-and-set lost to a concurrent resolution
        return Outcome.IGNORED
    await ledger.post(conn, [posting], now=now)
    return Outcome.EXPIRED if expired else Outcome.DONE


async def pending_funds_out(conn: AsyncConnection) -> dict[str, int]:
    """Reserved, unresolved funds out per currency (the ledger's only non-zero per-currency sum)."""
    rows = await conn.execute(
        select(funds_transfer.c.currency, funds_transfer.c.amount).where(funds_transfer.c.state == model.RESERVED)
    )
    out: dict[str, int] = {}
    for r in rows.all():
        out[r.currency] = out.get(r.currency, 0) + int(r.amount)
    return out


async def expire_due_funds_out(conn: AsyncConnection, *, now: datetime, limit: int) -> int:
    """Release up to ``limit`` funds-out reservations past their expiry (central-ledger's timeout
    handler does the same for its internal transfers): SETTLEMENT −amount, state EXPIRED.
    Returns how many were released."""
    stmt = (
        select(funds_transfer.c.transfer_id, funds_transfer.c.account_id, funds_transfer.c.amount)
        .where(and_(funds_transfer.c.state == model.RESERVED, funds_transfer.c.expires_at <= now))
        .order_by(funds_transfer.c.expires_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)  # several workers may sweep at once
    released = 0
    for row in (await conn.execute(stmt)).all():
        changed = await conn.execute(
            update(funds_transfer)
            .where(and_(funds_transfer.c.transfer_id == row.transfer_id, funds_transfer.c.state == model.RESERVED))
            .values(state=model.EXPIRED, reason="expired", changed_at=now)
        )
        if changed.rowcount != 1:
            continue
        await ledger.post(conn, [model.funds_out_release_posting(row.transfer_id, settlement_account_id=row.account_id,
                                                                 amount=row.amount)], now=now)
        released += 1
    return released


async def sweep_funds_out(db: Database, clock: Clock, *, interval_s: float, batch: int) -> None:
    """Background worker: release expired funds-out reservations, ``batch`` per transaction,
    then sleep ``interval_s``. Runs until cancelled; a database error is logged and retried."""
    while True:
        try:
            async with db.write() as conn:
                released = await expire_due_funds_out(conn, now=clock.now(), limit=batch)
        except _ROUND_ERRORS as exc:
            log.warning("funds.sweep_failed", error=str(exc))
            released = 0
        if released:
            log.info("funds.expired_released", count=released)
        if released < batch:
            await asyncio.sleep(interval_s)
