"""The database handle: one async engine, write and read transactions, dialect facts.

SQLite (embedded default) runs in WAL mode; write transactions start with ``BEGIN IMMEDIATE`` and
are serialised per process by an asyncio lock, so SQLite never answers SQLITE_BUSY mid-transaction
and never deadlocks on lock upgrades. PostgreSQL runs READ COMMITTED with explicit row locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

# What a retried transaction may fail with: driver errors through SQLAlchemy, and asyncpg's own
# from the raw fast path (storage.pgbatch): unique violations, deadlocks, serialization failures.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (DBAPIError, asyncpg.PostgresError)
# Anything the database layer raises, through SQLAlchemy or from the raw asyncpg path: what a
# background loop logs and survives (it tries again on its next round).
DB_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction, committed on normal exit, rolled back on error."""
        if self._write_lock is not None:
            async with self._write_lock, self.engine.connect() as conn:
                conn = await conn.execution_options(sqlite_immediate=True)
                async with conn.begin():
                    yield conn
        else:
            async with self.engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction (a consistent snapshot on SQLite WAL)."""
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # health check: any failure means "down", reported, not raised
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


def _install_sqlite_pragmas(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (not the driver) issue BEGIN, so we can choose IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10,
                  statement_timeout_ms: int = 30_000, echo: bool = False) -> AsyncEngine:
    if url.startswith("sqlite"):
        if ":memory:" in url:
            engine = create_async_engine(url, echo=echo, poolclass=StaticPool)
        else:
            engine = create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=max_overflow)
        _install_sqlite_pragmas(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql+asyncpg"):
        # force_custom_plan: every statement is prepared once and executed thousands of times;
        # PostgreSQL's switch to a cached generic plan after five runs froze plans made while the
        # tables were empty (sequential scans of `transfer_id = ANY($1)`), and the database's CPU
        # per transfer tripled as the tables grew (docs/decisions/0006).
        connect_args = {"server_settings": {"statement_timeout": str(statement_timeout_ms),
                                            "plan_cache_mode": "force_custom_plan"}}
    return create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=max_overflow,
        pool_pre_ping=False, connect_args=connect_args,
    )


def open_database(url: str, **kwargs: Any) -> Database:
    return Database(create_engine(url, **kwargs))
