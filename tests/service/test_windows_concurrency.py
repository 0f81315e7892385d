"""Closing windows while transfers commit loses or duplicates none: real parallel transactions
(PostgreSQL row locks; SQLite's serialised writer), every commit in exactly one window, and a
closed window never receives a commit after its close."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from mojahub.kernel.errors import HubError
from mojahub.settlement import windows
from mojahub.settlement.model import OPEN
from mojahub.settlement.service import open_window_id
from mojahub.settlement.tables import settlement_window, window_flow
from mojahub.storage.engine import Database
from tests.support.builders import T0, UNITS, dfsp
from tests.support.settlement_builders import commit, deferred_net_model

WORKERS = 4
COMMITS_PER_WORKER = 30


async def _flow_totals(db: Database) -> dict[int, tuple[int, int]]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(window_flow.c.window_id, func.sum(window_flow.c.transfer_count), func.sum(window_flow.c.amount))
            .group_by(window_flow.c.window_id)
        )
        return {int(w): (int(c), int(a)) for w, c, a in rows.all()}


async def test_closes_racing_commits_lose_and_duplicate_nothing(db: Database) -> None:
    async with db.write() as conn:
        await deferred_net_model(conn, "DEFERREDNETXXX", "XXX")
        ds = [await dfsp(conn, f"fsp{i}") for i in range(4)]
    committed: list[tuple[int, int]] = []  # (window id, units) per commit
    at_close: dict[int, tuple[int, int]] = {}
    refused: list[str] = []
    done = asyncio.Event()

    async def worker(k: int) -> None:
        for i in range(COMMITS_PER_WORKER):
            payer, payee = ds[(k + i) % 4], ds[(k + i + 1) % 4]
            units = (i + 1) * UNITS
            async with db.write() as conn:
                w = await commit(conn, payer, payee, i + 1)
            committed.append((w, units))

    async def closer() -> None:
        deadline = time.monotonic() + 30
        while not done.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
            try:
                async with db.write() as conn:
                    w = await open_window_id(conn, now=T0, lock=False)
                    await windows.close_window(conn, w, "race", now=T0)
                    flows = await windows.window_flows(conn, [w])
                    at_close[w] = (sum(f.count for _, f in flows), sum(f.amount for _, f in flows))
            except HubError as err:
                refused.append(err.description)

    close_task = asyncio.create_task(closer())
    await asyncio.gather(*(worker(k) for k in range(WORKERS)))
    done.set()
    await close_task

    assert all(r.endswith("is empty") for r in refused)  # the only refusal: nothing committed yet
    totals = await _flow_totals(db)
    assert sum(c for c, _ in totals.values()) == WORKERS * COMMITS_PER_WORKER == len(committed)
    assert sum(a for _, a in totals.values()) == sum(u for _, u in committed)
    per_window: dict[int, tuple[int, int]] = {}
    for w, u in committed:
        c, a = per_window.get(w, (0, 0))
        per_window[w] = (c + 1, a + u)
    assert per_window == totals  # each commit sits in the window it was told
    assert len(at_close) >= 1, "no close ran while transfers committed"
    for w, seen in at_close.items():  # nothing reached a window after its close
        assert totals.get(w, (0, 0)) == seen
    async with db.read() as conn:
        open_windows = (await conn.execute(select(settlement_window.c.id).where(settlement_window.c.state == OPEN)))
        assert list(open_windows.scalars()) == [await open_window_id(conn, now=T0, lock=False)]
