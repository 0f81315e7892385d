"""SQL for the transfers context (SQLAlchemy Core). Every write runs in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, any_, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.kernel.clock import ensure_utc
from mojahub.transfers.model import Transfer
from mojahub.transfers.state import State
from mojahub.transfers.tables import transfer, transfer_ilp_packet, transfer_state_change

_MUTABLE = ("state", "fulfil_hash", "error_hash", "fulfilment", "completed_at", "error_code",
            "error_description", "settlement_window_id", "changed_at")


def _row_to_transfer(r: Any) -> Transfer:
    return Transfer(
        transfer_id=r.transfer_id,
        payer_fsp=r.payer_fsp,
        payee_fsp=r.payee_fsp,
        payer_account_id=r.payer_account_id,
        payee_account_id=r.payee_account_id,
        currency=r.currency,
        amount=int(r.amount),
        condition=r.condition,
        expires_at=ensure_utc(r.expires_at),
        state=State(r.state),
        prepare_hash=r.prepare_hash,
        created_at=ensure_utc(r.created_at),
        changed_at=ensure_utc(r.changed_at),
        fulfil_hash=r.fulfil_hash,
        error_hash=r.error_hash,
        fulfilment=r.fulfilment,
        completed_at=ensure_utc(r.completed_at) if r.completed_at is not None else None,
        error_code=r.error_code,
        error_description=r.error_description,
        settlement_window_id=r.settlement_window_id,
    )


def _values(t: Transfer) -> dict[str, Any]:
    return {
        "transfer_id": t.transfer_id, "payer_fsp": t.payer_fsp, "payee_fsp": t.payee_fsp,
        "payer_account_id": t.payer_account_id, "payee_account_id": t.payee_account_id,
        "currency": t.currency, "amount": t.amount, "condition": t.condition, "expires_at": t.expires_at,
        "state": t.state.value, "prepare_hash": t.prepare_hash, "fulfil_hash": t.fulfil_hash,
        "error_hash": t.error_hash, "fulfilment": t.fulfilment, "completed_at": t.completed_at,
        "error_code": t.error_code, "error_description": t.error_description,
        "settlement_window_id": t.settlement_window_id, "created_at": t.created_at, "changed_at": t.changed_at,
    }


async def load(conn: AsyncConnection, ids: Iterable[str], *, for_update: bool = False) -> dict[str, Transfer]:
    """Transfers by id; ``for_update`` locks them in id order on PostgreSQL (lock order:
    transfers, then positions, then settlement)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    if conn.dialect.name == "postgresql":
        # One array parameter: the same prepared statement whatever the batch size.
        match = transfer.c.transfer_id == any_(bindparam("ids", wanted, type_=ARRAY(String(64))))
    else:
        match = transfer.c.transfer_id.in_(wanted)
    stmt = select(transfer).where(match).order_by(transfer.c.transfer_id)
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return {r.transfer_id: _row_to_transfer(r) for r in (await conn.execute(stmt)).all()}


async def find(conn: AsyncConnection, transfer_id: str) -> Transfer | None:
    return (await load(conn, [transfer_id])).get(transfer_id)


async def ilp_packet(conn: AsyncConnection, transfer_id: str) -> str | None:
    return (
        await conn.execute(
            select(transfer_ilp_packet.c.ilp_packet).where(transfer_ilp_packet.c.transfer_id == transfer_id)
        )
    ).scalar_one_or_none()


async def insert_new(conn: AsyncConnection, created: Sequence[tuple[Transfer, str]]) -> None:
    if not created:
        return
    await conn.execute(insert(transfer), [_values(t) for t, _ in created])
    await conn.execute(insert(transfer_ilp_packet), [{"transfer_id": t.transfer_id, "ilp_packet": p}
                                                     for t, p in created])


async def update_changed(conn: AsyncConnection, changes: Sequence[tuple[State, Transfer]]) -> int:
    """Compare-and-set: each row is updated only if it is still in the state it was decided from.
    Returns the number of rows written (-1 when the driver cannot count an executemany)."""
    if not changes:
        return 0
    stmt = (
        update(transfer)
        .where(and_(transfer.c.transfer_id == bindparam("b_id"), transfer.c.state == bindparam("b_expected")))
        .values({c: bindparam(f"b_{c}") for c in _MUTABLE})
    )
    params = []
    for expected, t in sorted(changes, key=lambda c: c[1].transfer_id):
        v = _values(t)
        params.append({"b_id": t.transfer_id, "b_expected": expected.value, **{f"b_{c}": v[c] for c in _MUTABLE}})
    result = await conn.execute(stmt, params)
    return int(result.rowcount)


async def record_states(conn: AsyncConnection, rows: Sequence[tuple[str, State, str | None]], *,
                        now: datetime) -> None:
    if not rows:
        return
    await conn.execute(insert(transfer_state_change), [
        {"transfer_id": tid, "state": s.value, "reason": (reason or None) and reason[:256], "created_at": now}
        for tid, s, reason in rows
    ])


async def due_for_expiry(conn: AsyncConnection, *, now: datetime, limit: int) -> list[str]:
    rows = await conn.execute(
        select(transfer.c.transfer_id)
        .where(and_(transfer.c.state == State.RESERVED.value, transfer.c.expires_at <= now))
        .order_by(transfer.c.expires_at)
        .limit(limit)
    )
    return [r[0] for r in rows.all()]


async def history(conn: AsyncConnection, transfer_id: str) -> list[tuple[str, str | None]]:
    rows = await conn.execute(
        select(transfer_state_change.c.state, transfer_state_change.c.reason)
        .where(transfer_state_change.c.transfer_id == transfer_id)
        .order_by(transfer_state_change.c.id)
    )
    return [(r.state, r.reason) for r in rows.all()]
