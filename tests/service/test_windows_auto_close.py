"""The optional background task closes the OPEN window on its interval and leaves an empty one."""

from __future__ import annotations

import asyncio
import contextlib

from mojahub.kernel.clock import FixedClock
from mojahub.settlement import windows
from mojahub.settlement.service import open_window_id
from mojahub.storage.engine import Database
from tests.support.builders import T0, dfsp
from tests.support.settlement_builders import commit, deferred_net_model


async def test_auto_close_closes_a_window_with_commits_and_skips_an_empty_one(db: Database) -> None:
    async with db.write() as conn:
        await deferred_net_model(conn, "DEFERREDNETXXX", "XXX")
        a, b = await dfsp(conn, "a"), await dfsp(conn, "b")
        first = await commit(conn, a, b, 5)
    closed: list[int] = []

    async def on_closed(window_id: int) -> None:
        closed.append(window_id)

    task = asyncio.create_task(windows.auto_close_task(db, FixedClock(T0), 0.02, on_closed=on_closed)())
    try:
        for _ in range(250):  # at most ~5 s
            if closed:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # a few more rounds over the new, empty window
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert closed == [first]
    async with db.read() as conn:
        assert (await windows.get_window(conn, first)).state == "CLOSED"
        assert await open_window_id(conn, now=T0, lock=False) != first
