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
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.ledger.model import AppliedPosting, Posting, fold
from mojahub.ledger.tables import ledger_entry, position
from mojahub.storage.pgbatch import Batch, driver, unnest


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


def _read_sql(accounts: str) -> str:
    return (f"SELECT account_id, value, reserved_value, changed_at FROM position "
            f"WHERE account_id = ANY({accounts}) ORDER BY account_id")


def lock_sql(accounts: str) -> str:
    """PostgreSQL: lock the positions whose ids are the array expression ``accounts``, in id
    order (rows read back with ``position_row``). For callers composing one statement."""
    return _read_sql(accounts) + " FOR UPDATE"


def position_row(record: Any) -> PositionRow:
    """A position from a row of (account_id, value, reserved_value, changed_at)."""
    return PositionRow(record[0], record[1], record[2], record[3])


_READ_SQL = _read_sql("$1::int4[]")
_LOCK_SQL = lock_sql("$1::int4[]")


async def read(
    conn: AsyncConnection, account_ids: Iterable[int], *, for_update: bool = False
) -> dict[int, PositionRow]:
    """Positions by account id; ``for_update`` locks them in id order on PostgreSQL (on SQLite the
    write transaction already holds the database lock)."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    if conn.dialect.name == "postgresql":  # hot path: raw driver, one prepared statement
        rows = await (await driver(conn)).fetch(_LOCK_SQL if for_update else _READ_SQL, ids)
    else:
        stmt = select(position.c.account_id, position.c.value, position.c.reserved_value,
                      position.c.changed_at).where(position.c.account_id.in_(ids)).order_by(position.c.account_id)
        rows = (await conn.execute(stmt)).all()
    return {r[0]: position_row(r) for r in rows}


async def lock(conn: AsyncConnection, account_ids: Iterable[int]) -> dict[int, PositionRow]:
    """Read and lock positions for update, in id order."""
    return await read(conn, account_ids, for_update=True)


@dataclass(frozen=True, slots=True)
class PostPlan:
    """What ``post`` writes: each touched account's new value and one entry row per posting."""

    final: dict[int, int]
    applied: list[AppliedPosting]
    reserved: dict[int, int]  # reserved_after of every touched account


def plan_post(postings: Sequence[Posting], current: dict[int, PositionRow]) -> PostPlan:
    """Pure: fold ``postings`` over the locked ``current`` rows."""
    touched = {p.account_id for p in postings}
    absent = touched - current.keys()
    assert not absent, f"accounts without a position row: {sorted(absent)}"
    final, applied = fold({a: current[a].value for a in touched}, postings)
    return PostPlan(final, applied, {a: current[a].reserved_value for a in touched})


def _after_post(plan: PostPlan, locked: dict[int, PositionRow] | None, *, now: datetime) -> None:
    if locked is None:
        return
    for account_id, value in plan.final.items():
        locked[account_id] = PositionRow(account_id, value, plan.reserved[account_id], now)


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
    current = dict(locked or {})
    missing = {p.account_id for p in postings} - current.keys()
    if missing:
        current.update(await lock(conn, missing))
    plan = plan_post(postings, current)
    await conn.execute(
        update(position)
        .where(position.c.account_id == bindparam("b_account_id"))
        .values(value=bindparam("b_value"), changed_at=bindparam("b_changed_at")),
        [{"b_account_id": a, "b_value": v, "b_changed_at": now} for a, v in sorted(plan.final.items())],
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
                "reserved_after": plan.reserved[a.posting.account_id],
                "created_at": now,
            }
            for a in plan.applied
        ],
    )
    _after_post(plan, locked, now=now)
    return plan.final


def add_post(batch: Batch, postings: Sequence[Posting], *, now: datetime,
             locked: dict[int, PositionRow]) -> None:
    """PostgreSQL fast path of ``post`` (storage.pgbatch): the same rows, as two CTEs of ``batch``.
    Every account must be in ``locked`` (read under lock in this transaction)."""
    if not postings:
        return
    plan = plan_post(postings, locked)
    accounts = sorted(plan.final)
    at = batch.arg(now, "timestamptz")
    batch.with_("ledger_position", (
        f"UPDATE position AS p SET value = u.value, changed_at = {at} "
        "FROM " + unnest(batch, [("account_id", "int4", accounts),
                                 ("value", "int8", [plan.final[a] for a in accounts])])
        + " WHERE p.account_id = u.account_id"
    ))
    a = plan.applied
    batch.with_("ledger_entries", (
        "INSERT INTO ledger_entry (account_id, transfer_id, entry_type, change, value_after, reserved_after, "
        f"created_at) SELECT u.account_id, u.transfer_id, u.entry_type, u.change, u.value_after, "
        f"u.reserved_after, {at} FROM "
        + unnest(batch, [
            ("account_id", "int4", [x.posting.account_id for x in a]),
            ("transfer_id", "text", [x.posting.transfer_id for x in a]),
            ("entry_type", "text", [x.posting.entry_type for x in a]),
            ("change", "int8", [x.posting.change for x in a]),
            ("value_after", "int8", [x.value_after for x in a]),
            ("reserved_after", "int8", [plan.reserved[x.posting.account_id] for x in a]),
        ])
    ))
    _after_post(plan, locked, now=now)


async def rebuilt_positions(conn: AsyncConnection) -> dict[int, int]:
    """Positions recomputed from the ledger entries alone (must equal the stored positions)."""
    rows = await conn.execute(
        select(ledger_entry.c.account_id, func.sum(ledger_entry.c.change)).group_by(ledger_entry.c.account_id)
    )
    return {int(a): int(s) for a, s in rows.all()}


async def stored_positions(conn: AsyncConnection) -> dict[int, int]:
    rows = await conn.execute(select(position.c.account_id, position.c.value))
    return {int(a): int(v) for a, v in rows.all()}
