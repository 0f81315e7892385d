"""PostgreSQL upkeep of the queue-like tables (outbox, attempts, transfers, their history).

Every row of these tables is updated or deleted soon after it is written, and each such change
leaves a dead index entry until VACUUM removes it. Autovacuum visits a database at most once a
minute (``autovacuum_naptime``): at ~1,000 transfers/s that is 180,000 dead PENDING entries that
every callback claim would step over. The hub therefore vacuums these tables itself, every
``interval_s`` (``SKIP_LOCKED``: a table another VACUUM holds is skipped, so several workers
never queue up behind each other). SQLite needs none of this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from mojahub.storage.engine import DB_ERRORS, Database

log = structlog.get_logger(__name__)
# A failed round is logged and the next one tries again.
_ROUND_ERRORS: tuple[type[Exception], ...] = (*DB_ERRORS, OSError)


async def vacuum(db: Database, tables: Sequence[str]) -> None:
    """``VACUUM (SKIP_LOCKED)`` the tables (outside a transaction, as VACUUM requires)."""
    assert all(t.isidentifier() for t in tables), "table names are identifiers"
    async with db.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.exec_driver_sql(f"VACUUM (SKIP_LOCKED) {', '.join(tables)}")


async def vacuum_loop(db: Database, tables: Sequence[str], *, interval_s: float) -> None:
    """Background job: vacuum ``tables`` every ``interval_s`` (PostgreSQL only)."""
    if not db.is_postgres:
        return
    while True:
        await asyncio.sleep(interval_s)
        try:
            await vacuum(db, tables)
        except _ROUND_ERRORS as exc:  # transient: the next round tries again
            log.warning("storage.vacuum_failed", tables=list(tables), error=str(exc)[:200])
