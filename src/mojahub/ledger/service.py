"""Ledger use cases, run inside the caller's transaction (``conn``).

Callers lock the positions they will check (``lock``), decide with pure rules, then ``post``.
On PostgreSQL ``lock`` takes row locks in account-id order (no deadlocks between two
transactions locking the same accounts); on SQLite the write transaction already holds the
database lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.ledger.model import Posting, fold
from mojahub.ledger.tables import ledger_entry, position


@dataclass(frozen=True, slots=True)
class PositionRow:
    account_id: int
    value: int
    reserved_value: int
    changed_at: datetime


async def open_position(conn: AsyncConnection, account_id: int, *, value: int = 0, now: datetime) -> None:
    """Create the position row of a new account."""
    await conn.execute(
        insert(position).values(account_id=account_id, value=value, reserved_value=0, changed_at=now)
    )


async def read(
    conn: AsyncConnection, account_ids: Iterable[int], *, for_update: bool = False
) -> dict[int, PositionRow]:
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    stmt = select(position).where(position.c.account_id.in_(ids)).order_by(position.c.account_id)
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    rows = (await conn.execute(stmt)).all()
    return {
        r.account_id: PositionRow(r.account_id, r.value, r.reserved_value, r.changed_at) for r in rows
    }


async def lock(conn: AsyncConnection, account_ids: Iterable[int]) -> dict[int, PositionRow]:
    """Read and lock positions for update, in id order."""
    return await read(conn, account_ids, for_update=True)


async def post(
    conn: AsyncConnection,
    postings: Sequence[Posting],
    *,
    now: datetime,
    locked: dict[int, PositionRow] | None = None,
) -> dict[int, int]:
    """Apply postings: one UPDATE per touched account, one bulk INSERT of ledger entries.

    ``locked`` are positions already read under lock in this transaction (avoids a second read).
    Returns the new value of every touched account.
    """
    if not postings:
        return {}
    touched = {p.account_id for p in postings}
    current = dict(locked or {})
    missing = touched - current.keys()
    if missing:
        current.update(await lock(conn, missing))
    absent = touched - current.keys()
    assert not absent, f"accounts without a position row: {sorted(absent)}"
    final, applied = fold({a: current[a].value for a in touched}, postings)
    await conn.execute(
        update(position)
        .where(position.c.account_id == bindparam("b_account_id"))
        .values(value=bindparam("b_value"), changed_at=bindparam("b_changed_at")),
        [{"b_account_id": a, "b_value": v, "b_changed_at": now} for a, v in sorted(final.items())],
    )
    await conn.execute(
        insert(ledger_entry),
        [
            {
                "account_id": a.posting.account_id,
                "transfer_id": a.posting.transfer_id,
                "entry_type": a.posting.entry_type,
                "change": a.posting.change,
                "value_after": a.value_after,
                "reserved_after": current[a.posting.account_id].reserved_value,
                "created_at": now,
            }
            for a in applied
        ],
    )
    for account_id, value in final.items():
        row = current[account_id]
        current[account_id] = PositionRow(account_id, value, row.reserved_value, now)
    if locked is not None:
        locked.update({a: current[a] for a in touched})
    return final


async def rebuilt_positions(conn: AsyncConnection) -> dict[int, int]:
    """Positions recomputed from the ledger entries alone (must equal the stored positions)."""
    rows = await conn.execute(
        select(ledger_entry.c.account_id, func.sum(ledger_entry.c.change)).group_by(ledger_entry.c.account_id)
    )
    return {int(a): int(s) for a, s in rows.all()}


async def stored_positions(conn: AsyncConnection) -> dict[int, int]:
    rows = await conn.execute(select(position.c.account_id, position.c.value))
    return {int(a): int(v) for a, v in rows.all()}
