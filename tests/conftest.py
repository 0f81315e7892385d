"""Shared fixtures: real SQLite and real PostgreSQL databases, migrated, one per test.

PostgreSQL: a throwaway database per test run (``mojahub_test_<pid>_<random>``) on
MOJAHUB_TEST_PG (default ``postgresql+asyncpg://postgres@127.0.0.1:5432``); tests marked
``postgres`` skip when no server answers, except in CI (CI=true), where they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mojahub.storage.engine import Database, open_database
from mojahub.storage.migrate import upgrade

PG_BASE = os.environ.get("MOJAHUB_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")


def _pg_admin_dsn() -> str:
    return PG_BASE.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"


async def _pg_exec(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_pg_admin_dsn(), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_available() -> bool:
    try:
        asyncio.run(_pg_exec("SELECT 1"))
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The base URL of a PostgreSQL server, or skip (never in CI)."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not answering in CI: integration tests must run")
        pytest.skip("PostgreSQL not available")
    return PG_BASE


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> Iterator[str]:
    """A migrated template database for this run; each test clones it (fast, isolated)."""
    name = f"mojahub_tpl_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_pg_exec(f'CREATE DATABASE "{name}"'))

    async def _migrate() -> None:
        db = open_database(f"{pg_server}/{name}")
        try:
            await upgrade(db.engine)
        finally:
            await db.dispose()

    asyncio.run(_migrate())
    yield name
    asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_url(pg_server: str, pg_template: str) -> Iterator[str]:
    name = f"mojahub_t_{os.getpid()}_{secrets.token_hex(4)}"
    asyncio.run(_pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    yield f"{pg_server}/{name}"
    asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Run a test on both backends."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated database on each backend."""
    database = open_database(db_url)
    if database.is_sqlite:
        await upgrade(database.engine)
    try:
        yield database
    finally:
        await database.dispose()
