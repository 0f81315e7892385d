"""The migrated schema is exactly the schema the code declares, on both backends."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from mojahub.storage.engine import Database
from mojahub.storage.migrate import current_revision
from mojahub.storage.schema import metadata


async def test_migrated_schema_matches_table_definitions(db: Database) -> None:
    def diff(connection: Any) -> list[Any]:
        ctx = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_migrations_reach_head_and_seed_ledger_account_types(db: Database) -> None:
    from mojahub.participants.tables import ledger_account_type

    assert await current_revision(db.engine) is not None
    async with db.read() as conn:
        names = set((await conn.execute(select(ledger_account_type.c.name))).scalars())
    assert {"POSITION", "SETTLEMENT", "HUB_RECONCILIATION", "HUB_MULTILATERAL_SETTLEMENT"} <= names
