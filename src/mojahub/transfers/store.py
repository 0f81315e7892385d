"""SQL for the transfers context (SQLAlchemy Core). Every write runs in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.kernel.clock import ensure_utc
from mojahub.ledger import service as ledger
from mojahub.storage.pgbatch import Batch, driver, unnest
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


_COLUMNS = ", ".join(c.name for c in transfer.columns)
_LOAD_SQL = f"SELECT {_COLUMNS} FROM transfer WHERE transfer_id = ANY($1::text[]) ORDER BY transfer_id"
_LOCK_SQL = _LOAD_SQL + " FOR UPDATE"


_LOAD_LOCKING_POSITIONS_SQL = (
    f"WITH t AS MATERIALIZED ({_LOCK_SQL}), "
    "p AS MATERIALIZED (" + ledger.lock_sql(
        "$2::int4[] || ARRAY(SELECT payer_account_id FROM t WHERE payer_account_id IS NOT NULL)"
        " || ARRAY(SELECT payee_account_id FROM t WHERE payee_account_id IS NOT NULL)"
    ) + ") "
    # t is evaluated first (p reads it), so the lock order holds: transfers, then positions.
    "SELECT (SELECT array_agg(t ORDER BY t.transfer_id) FROM t) AS transfers, "
    "(SELECT array_agg(p ORDER BY p.account_id) FROM p) AS positions"
)


class _Positional:
    """Attribute access over a raw record of ``_COLUMNS`` (its fields in table column order)."""

    __slots__ = ("_r",)
    _INDEX = {c.name: i for i, c in enumerate(transfer.columns)}

    def __init__(self, record: Any) -> None:
        self._r = record

    def __getattr__(self, name: str) -> Any:
        return self._r[self._INDEX[name]]


async def load(conn: AsyncConnection, ids: Iterable[str], *, for_update: bool = False) -> dict[str, Transfer]:
    """Transfers by id; ``for_update`` locks them in id order on PostgreSQL (lock order:
    transfers, then positions, then settlement)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    if conn.dialect.name == "postgresql":  # hot path: raw driver, one prepared statement
        pg = await driver(conn)
        rows = await pg.fetch(_LOCK_SQL if for_update else _LOAD_SQL, wanted)
        return {r[0]: _row_to_transfer(_Positional(r)) for r in rows}
    stmt = select(transfer).where(transfer.c.transfer_id.in_(wanted)).order_by(transfer.c.transfer_id)
    return {r.transfer_id: _row_to_transfer(r) for r in (await conn.execute(stmt)).all()}


async def load_locking_positions(
    conn: AsyncConnection, ids: Iterable[str], account_ids: Iterable[int]
) -> tuple[dict[str, Transfer], dict[int, ledger.PositionRow]]:
    """The transfers ``ids`` locked (id order), then the positions of ``account_ids`` and of both
    parties of every transfer found, locked (account-id order). PostgreSQL: one round trip."""
    wanted = sorted(set(ids))
    accounts = set(account_ids)
    if conn.dialect.name != "postgresql":
        found = await load(conn, wanted, for_update=True)
        for t in found.values():
            accounts.update(a for a in (t.payer_account_id, t.payee_account_id) if a is not None)
        return found, await ledger.lock(conn, accounts)
    pg = await driver(conn)
    row = await pg.fetchrow(_LOAD_LOCKING_POSITIONS_SQL, wanted, sorted(accounts))
    transfers = {r[0]: _row_to_transfer(_Positional(r)) for r in row["transfers"] or ()}
    return transfers, {p.account_id: p for p in map(ledger.position_row, row["positions"] or ())}


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


# -- PostgreSQL fast path (storage.pgbatch): the same rows as insert_new / update_changed /
# record_states, as CTEs of the batch statement. ``window`` is the SQL expression of the open
# window id (settlement.service.add_committed) for the transfers in ``committed``.

_TYPES = {"transfer_id": "text", "payer_fsp": "text", "payee_fsp": "text", "payer_account_id": "int4",
          "payee_account_id": "int4", "currency": "text", "amount": "int8", "condition": "text",
          "expires_at": "timestamptz", "state": "text", "prepare_hash": "text", "fulfil_hash": "text",
          "error_hash": "text", "fulfilment": "text", "completed_at": "timestamptz", "error_code": "text",
          "error_description": "text", "settlement_window_id": "int4", "created_at": "timestamptz",
          "changed_at": "timestamptz"}
assert set(_TYPES) == {c.name for c in transfer.columns}, "transfer columns and their PostgreSQL types"


def _window_of(column: str, window: str | None) -> str:
    return f"CASE WHEN u.committed THEN {window} ELSE u.{column} END" if window else f"u.{column}"


def add_insert_new(batch: Batch, created: Sequence[tuple[Transfer, str]], *, committed: set[str],
                   window: str | None) -> None:
    if not created:
        return
    rows = [_values(t) for t, _ in created]
    names = list(_TYPES)
    select_list = ", ".join(_window_of(n, window) if n == "settlement_window_id" else f"u.{n}" for n in names)
    columns = [(n, _TYPES[n], [r[n] for r in rows]) for n in names]
    columns.append(("committed", "bool", [t.transfer_id in committed for t, _ in created]))
    batch.with_("transfers_new", (
        f"INSERT INTO transfer ({', '.join(names)}) SELECT {select_list} FROM " + unnest(batch, columns)
    ))
    batch.with_("transfers_ilp", (
        "INSERT INTO transfer_ilp_packet (transfer_id, ilp_packet) SELECT u.transfer_id, u.ilp_packet FROM "
        + unnest(batch, [("transfer_id", "text", [t.transfer_id for t, _ in created]),
                         ("ilp_packet", "text", [p for _, p in created])])
    ))


def add_update_changed(batch: Batch, changes: Sequence[tuple[State, Transfer]], *, committed: set[str],
                       window: str | None) -> str | None:
    """Compare-and-set updates; returns the output name holding the number of rows written."""
    if not changes:
        return None
    ordered = sorted(changes, key=lambda c: c[1].transfer_id)
    rows = [_values(t) for _, t in ordered]
    columns = [("transfer_id", "text", [r["transfer_id"] for r in rows]),
               ("expected", "text", [e.value for e, _ in ordered])]
    columns += [(n, _TYPES[n], [r[n] for r in rows]) for n in _MUTABLE]
    columns.append(("committed", "bool", [t.transfer_id in committed for _, t in ordered]))
    sets = ", ".join(f"{n} = {_window_of(n, window)}" if n == "settlement_window_id" else f"{n} = u.{n}"
                     for n in _MUTABLE)
    batch.with_("transfers_changed", (
        f"UPDATE transfer AS t SET {sets} FROM " + unnest(batch, columns)
        + " WHERE t.transfer_id = u.transfer_id AND t.state = u.expected RETURNING 1"
    ))
    batch.output("transfers_changed", "(SELECT count(*) FROM transfers_changed)")
    return "transfers_changed"


def add_record_states(batch: Batch, rows: Sequence[tuple[str, State, str | None]], *, now: datetime) -> None:
    if not rows:
        return
    batch.with_("transfers_history", (
        "INSERT INTO transfer_state_change (transfer_id, state, reason, created_at) "
        f"SELECT u.transfer_id, u.state, u.reason, {batch.arg(now, 'timestamptz')} FROM "
        + unnest(batch, [("transfer_id", "text", [r[0] for r in rows]),
                         ("state", "text", [r[1].value for r in rows]),
                         ("reason", "text", [(reason or None) and reason[:256] for _, _, reason in rows])])
    ))


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
