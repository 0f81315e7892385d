"""Apply Alembic migrations programmatically (``mojahub migrate`` and on ``serve`` start)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Several worker processes may start at once: one migrates, the others wait.
            from sqlalchemy import text

            await conn.execute(text("SELECT pg_advisory_xact_lock(724242)"))
        await conn.run_sync(_upgrade, revision)


async def current_revision(engine: AsyncEngine) -> Any:
    from alembic.runtime.migration import MigrationContext

    def _rev(connection: Connection) -> Any:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(_rev)
