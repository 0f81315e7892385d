"""storage.maintenance: the hub vacuums its queue tables on PostgreSQL, and does nothing on SQLite."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text

from mojahub.storage.engine import Database, open_database
from mojahub.storage.maintenance import vacuum, vacuum_loop


@pytest.mark.postgres
async def test_vacuum_runs_on_the_queue_tables(pg_url: str) -> None:
    db = open_database(pg_url)
    try:
        async def vacuums() -> int:
            async with db.read() as conn:
                await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
                return int((await conn.execute(text(
                    "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'outbox'"))).scalar_one())

        before = await vacuums()
        await vacuum(db, ["outbox", "transfer"])
        deadline = time.monotonic() + 5
        while await vacuums() == before:
            assert time.monotonic() < deadline, "VACUUM did not run"
            await asyncio.sleep(0.1)
    finally:
        await db.dispose()


async def test_the_loop_returns_at_once_on_sqlite(sqlite_url: str) -> None:
    db: Database = open_database(sqlite_url)
    try:
        await asyncio.wait_for(vacuum_loop(db, ["outbox"], interval_s=60), timeout=1)
    finally:
        await db.dispose()
