"""Settlement windows: close (one short transaction), read, filter, automatic close."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.kernel.clock import Clock
from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.participants import settlement_support as participants
from mojahub.settlement import model
from mojahub.settlement.model import CLOSED, OPEN, Flow
from mojahub.settlement.service import POINTER_ID
from mojahub.settlement.tables import (
    settlement_open_window,
    settlement_window,
    settlement_window_content,
    window_flow,
)
from mojahub.storage.engine import Database

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ContentView:
    id: int
    window_id: int
    state: str
    ledger_account_type: str
    currency: str
    settlement_model_id: int
    settlement_id: int | None
    created_at: datetime
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class WindowView:
    id: int
    state: str
    reason: str | None
    created_at: datetime
    changed_at: datetime
    content: list[ContentView]


def _invalid(detail: str) -> HubError:
    return HubError(ErrorCode.VALIDATION_ERROR, detail)


async def window_flows(conn: AsyncConnection, window_ids: list[int]) -> list[tuple[int, Flow]]:
    if not window_ids:
        return []
    rows = await conn.execute(
        select(window_flow).where(window_flow.c.window_id.in_(window_ids)).order_by(
            window_flow.c.window_id, window_flow.c.payer_account_id, window_flow.c.payee_account_id
        )
    )
    return [
        (r.window_id, Flow(r.payer_account_id, r.payee_account_id, r.currency, int(r.amount), int(r.transfer_count)))
        for r in rows.all()
    ]


async def _content_of(conn: AsyncConnection, window_ids: list[int]) -> dict[int, list[ContentView]]:
    out: dict[int, list[ContentView]] = {w: [] for w in window_ids}
    if not window_ids:
        return out
    rows = await conn.execute(
        select(settlement_window_content)
        .where(settlement_window_content.c.window_id.in_(window_ids))
        .order_by(settlement_window_content.c.id)
    )
    for r in rows.all():
        out[r.window_id].append(
            ContentView(r.id, r.window_id, r.state, r.ledger_account_type, r.currency, r.settlement_model_id,
                        r.settlement_id, r.created_at, r.changed_at)
        )
    return out


async def windows_by_ids(conn: AsyncConnection, window_ids: list[int]) -> list[WindowView]:
    if not window_ids:
        return []
    rows = (
        await conn.execute(
            select(settlement_window).where(settlement_window.c.id.in_(window_ids)).order_by(settlement_window.c.id)
        )
    ).all()
    content = await _content_of(conn, [r.id for r in rows])
    return [WindowView(r.id, r.state, r.reason, r.created_at, r.changed_at, content[r.id]) for r in rows]


async def get_window(conn: AsyncConnection, window_id: int) -> WindowView:
    found = await windows_by_ids(conn, [window_id])
    if not found:
        raise _invalid(f"settlementWindowId: {window_id} not found")
    return found[0]


@dataclass(frozen=True, slots=True)
class WindowFilter:
    participant_id: int | None = None
    state: str | None = None
    from_time: datetime | None = None
    to_time: datetime | None = None
    currency: str | None = None

    def is_empty(self) -> bool:
        return all(v is None for v in (self.participant_id, self.state, self.from_time, self.to_time, self.currency))


async def find_windows(conn: AsyncConnection, flt: WindowFilter, *, limit: int, describe: str) -> list[WindowView]:
    """GET /settlementWindows: at least one filter; nothing found is an error (central-settlement)."""
    if flt.is_empty():
        raise _invalid("Use at least one parameter: participantId, state, fromDateTime, toDateTime, currency")
    stmt = select(settlement_window.c.id)
    if flt.state is not None:
        stmt = stmt.where(settlement_window.c.state == flt.state)
    if flt.from_time is not None:
        stmt = stmt.where(settlement_window.c.created_at >= flt.from_time)
    if flt.to_time is not None:
        stmt = stmt.where(settlement_window.c.created_at <= flt.to_time)
    if flt.participant_id is not None or flt.currency is not None:
        # Windows with committed flows of that participant and/or currency.
        conds = []
        if flt.currency is not None:
            conds.append(window_flow.c.currency == flt.currency)
        if flt.participant_id is not None:
            ids = [a.id for a in await participants.accounts_of_participant(conn, flt.participant_id)]
            conds.append(or_(window_flow.c.payer_account_id.in_(ids), window_flow.c.payee_account_id.in_(ids)))
        sub = select(window_flow.c.window_id).where(and_(*conds)).distinct()
        stmt = stmt.where(settlement_window.c.id.in_(sub))
    stmt = stmt.order_by(settlement_window.c.changed_at.desc(), settlement_window.c.id.desc()).limit(limit)
    ids = [int(i) for i in (await conn.execute(stmt)).scalars()]
    if not ids:
        raise _invalid(f"settlementWindow by filters: {describe} not found")
    views = {w.id: w for w in await windows_by_ids(conn, ids)}
    return [views[i] for i in ids]


async def close_window(conn: AsyncConnection, window_id: int, reason: str, *, now: datetime) -> WindowView:
    """Close the OPEN window and open the next one; returns the new OPEN window.

    One transaction, O(account pairs of the window): the pointer row is taken FOR UPDATE (waiting
    for the commits in flight, which hold it FOR KEY SHARE), the window's content is aggregated
    from ``window_flow`` (CLOSED before the answer: the operator may settle it at once).
    """
    stmt = select(settlement_open_window.c.window_id).where(settlement_open_window.c.id == POINTER_ID)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    open_id = (await conn.execute(stmt)).scalar_one_or_none()
    row = (await conn.execute(select(settlement_window).where(settlement_window.c.id == window_id))).first()
    if row is None:
        raise _invalid(f"Window {window_id} does not exist")
    if row.state != OPEN or open_id != window_id:
        raise _invalid(f"Window {window_id} is not open")
    flows = [f for _, f in await window_flows(conn, [window_id])]
    if not any(f.count > 0 for f in flows):
        raise _invalid(f"Window {window_id} is empty")
    await conn.execute(
        update(settlement_window)
        .where(and_(settlement_window.c.id == window_id, settlement_window.c.state == OPEN))
        .values(state=CLOSED, reason=reason, changed_at=now)
    )
    result = await conn.execute(
        insert(settlement_window).values(state=OPEN, reason=reason, created_at=now, changed_at=now)
    )
    assert result.inserted_primary_key is not None
    new_id = int(result.inserted_primary_key[0])
    await conn.execute(
        update(settlement_open_window).where(settlement_open_window.c.id == POINTER_ID).values(window_id=new_id)
    )
    await _aggregate_content(conn, window_id, flows, now=now)
    return await get_window(conn, new_id)


async def _aggregate_content(conn: AsyncConnection, window_id: int, flows: list[Flow], *, now: datetime) -> None:
    """One content row per (ledger account type, currency) with a NET model (reference §4.1)."""
    accounts = await participants.accounts_by_ids(conn, {f.payer_account_id for f in flows})
    models = await participants.settlement_models(conn)
    keys = sorted({(accounts[f.payer_account_id].ledger_account_type, f.currency) for f in flows})
    rows = []
    for lat, currency in keys:
        m = model.resolve_model(models, lat, currency)
        if m is None or m.granularity != model.NET:
            continue
        rows.append({
            "window_id": window_id, "ledger_account_type": lat, "currency": currency, "settlement_model_id": m.id,
            "state": CLOSED, "settlement_id": None, "created_at": now, "changed_at": now,
        })
    if rows:
        await conn.execute(insert(settlement_window_content), rows)


async def open_window_is_empty(conn: AsyncConnection) -> tuple[int, bool]:
    open_id = (
        await conn.execute(
            select(settlement_open_window.c.window_id).where(settlement_open_window.c.id == POINTER_ID)
        )
    ).scalar_one()
    count = (
        await conn.execute(select(func.count()).select_from(window_flow).where(window_flow.c.window_id == open_id))
    ).scalar_one()
    return int(open_id), int(count) == 0


def auto_close_task(
    db: Database, clock: Clock, interval_s: float, *, on_closed: Callable[[int], Awaitable[None]] | None = None
) -> Callable[[], Awaitable[None]]:
    """A background task closing the OPEN window every ``interval_s`` seconds (empty windows are
    left open: the reference refuses to close them)."""

    async def run() -> None:
        while True:
            await asyncio.sleep(interval_s)
            async with db.read() as conn:
                open_id, empty = await open_window_is_empty(conn)
            if empty:
                continue
            try:
                async with db.write() as conn:
                    await close_window(conn, open_id, "automatic close", now=clock.now())
            except HubError as err:  # closed by the operator meanwhile: nothing to do this round
                log.info("settlement.auto_close.skipped", window_id=open_id, reason=err.description)
                continue
            log.info("settlement.auto_close", window_id=open_id)
            if on_closed is not None:
                await on_closed(open_id)

    return run
