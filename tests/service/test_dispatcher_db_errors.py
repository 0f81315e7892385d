"""The dispatcher survives database errors from either path: SQLAlchemy's and the raw asyncpg
statements (storage.pgbatch) it uses on PostgreSQL. A failed record is kept and written on the
next round, so the message still ends DELIVERED."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from mojahub.callbacks import store
from mojahub.storage.engine import Database
from tests.service.test_dispatcher import (
    add_participant,
    fsp_endpoints,
    put,
    running_dispatcher,
    transfer_put,
    wait_state,
)
from tests.support.dfsp import DfspServer


async def test_a_raw_driver_error_while_recording_is_retried(
    db: Database, payer: DfspServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_participant(db, "payer", fsp_endpoints(payer.url))
    real_record = store.record
    failures: list[int] = []

    async def failing_once(conn: Any, records: Any) -> Any:
        if not failures:
            failures.append(len(records))
            raise asyncpg.PostgresError("connection reset while recording")
        return await real_record(conn, records)

    monkeypatch.setattr(store, "record", failing_once)
    async with running_dispatcher(db):
        await put(db, transfer_put("t-dberr"))
        await wait_state(db, "t-dberr", "DELIVERED")
    assert failures == [1]
    assert len(payer.requests) == 1
