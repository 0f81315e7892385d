"""Start-up hooks, onboarding and other worker processes may create the hub participant at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from mojahub.participants.service import ParticipantRecord, ensure_hub
from mojahub.storage.engine import Database, open_database


async def test_concurrent_ensure_hub_in_open_transactions_all_get_the_one_hub(db: Database, db_url: str) -> None:
    now = datetime.now(UTC)
    # Separate engines stand in for separate processes (PostgreSQL: truly concurrent transactions).
    others = [open_database(db_url) for _ in range(4)]

    async def create(database: Database) -> ParticipantRecord:
        async with database.write() as conn:
            hub = await ensure_hub(conn, "Hub", now)
            await asyncio.sleep(0.05)  # keep the transaction open while the others insert
            return hub

    try:
        results = await asyncio.gather(*(create(d) for d in [db, *others]))
    finally:
        for d in others:
            await d.dispose()
    assert len({r.id for r in results}) == 1
    assert all(r.name == "Hub" and r.is_active for r in results)
