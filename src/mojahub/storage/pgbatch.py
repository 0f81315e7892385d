"""PostgreSQL fast path: several writes of one transaction sent as ONE statement.

A transfers batch writes to six tables (positions, ledger entries, window flows, transfers, state
history, outbox). Through SQLAlchemy that is a dozen round trips and most of the hub's CPU
(docs/decisions/0006). Here each owning context adds its write as a data-modifying CTE over
``unnest`` of column arrays (``ledger.service.add_post``, ``settlement.service.add_committed``,
``outbox.add_enqueue_leased``, ``transfers.store.add_*``) and the whole batch goes to the server
in one round trip, as a prepared statement reused by every batch of the same shape.

All sub-statements of one statement see the same snapshot and must not touch the same row twice
(PostgreSQL rule for data-modifying CTEs); the callers' batches guarantee it: a transfer is
either inserted or updated, a position updated once with its folded value.

``driver`` hands out the asyncpg connection under a SQLAlchemy transaction, so raw and Core
statements can be mixed in one transaction and SQLAlchemy still commits or rolls back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

# The asyncpg connection (asyncpg ships no type information).
Driver = Any


async def driver(conn: AsyncConnection) -> Driver:
    """The asyncpg connection behind ``conn``, inside ``conn``'s transaction.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, on the first statement it executes; a raw
    statement before that would run outside the transaction, so the adapter's transaction is
    started here first (tests/integration/test_pgbatch.py proves a rollback undoes raw writes).
    """
    assert conn.dialect.name == "postgresql", "the raw driver path is PostgreSQL only"
    sync = conn.sync_connection
    # The checked-out pool connection, without a greenlet round trip when it is already open.
    fairy = sync.connection if sync is not None else await conn.get_raw_connection()
    adapter = fairy.dbapi_connection
    assert adapter is not None
    if not adapter._started:
        await adapter._start_transaction()
    return adapter._connection


class Batch:
    """One statement built from named CTEs; ``arg`` binds a value and returns its placeholder."""

    def __init__(self) -> None:
        self._ctes: list[str] = []
        self._outputs: list[str] = []
        self.args: list[object] = []

    def arg(self, value: object, pg_type: str) -> str:
        self.args.append(value)
        return f"${len(self.args)}::{pg_type}"

    def with_(self, name: str, sql: str) -> None:
        self._ctes.append(f"{name} AS ({sql})")

    def output(self, name: str, expression: str) -> None:
        """A value of the final row (e.g. ``(SELECT count(*) FROM upd)``), read back by ``name``."""
        self._outputs.append(f"{expression} AS {name}")

    @property
    def empty(self) -> bool:
        return not self._ctes

    def sql(self) -> str:
        outputs = ", ".join(self._outputs) or "1 AS done"
        head = f"WITH {', '.join(self._ctes)} " if self._ctes else ""
        return f"{head}SELECT {outputs}"

    async def run(self, conn: AsyncConnection) -> dict[str, Any]:
        """Execute in ``conn``'s transaction; returns the outputs by name."""
        if self.empty:
            return {}
        pg = await driver(conn)
        row = await pg.fetchrow(self.sql(), *self.args)
        assert row is not None
        return dict(row.items())


def unnest(batch: Batch, columns: list[tuple[str, str, list[Any]]]) -> str:
    """``unnest($1::t1[], $2::t2[], …) AS u(c1, c2, …)`` for equally long column lists."""
    lengths = {len(values) for _, _, values in columns}
    assert len(lengths) == 1, f"column arrays differ in length: {lengths}"
    params = ", ".join(batch.arg(values, f"{pg_type}[]") for _, pg_type, values in columns)
    names = ", ".join(name for name, _, _ in columns)
    return f"unnest({params}) AS u({names})"
