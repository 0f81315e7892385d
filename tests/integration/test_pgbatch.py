"""The PostgreSQL one-statement batch path (storage.pgbatch) on a real server: raw statements
share SQLAlchemy's transaction, and a batch written as one statement leaves exactly the rows the
generic SQLAlchemy path (the one SQLite uses) leaves."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import Table, select, text
from starlette.datastructures import Headers

from mojahub.fspiop.headers import validate_headers
from mojahub.fspiop.transfers import FspiopTransferRenderer, abort_command, fulfil_command, prepare_command
from mojahub.kernel.clock import FixedClock
from mojahub.ledger.tables import ledger_entry, position
from mojahub.settlement.tables import window_flow
from mojahub.storage.engine import Database, open_database
from mojahub.storage.outbox import outbox
from mojahub.storage.pgbatch import Batch, driver, unnest
from mojahub.transfers.model import Command
from mojahub.transfers.service import TransferConfig, TransferService
from mojahub.transfers.tables import transfer, transfer_ilp_packet, transfer_state_change
from tests.conftest import _pg_exec
from tests.support import builders as b

pytestmark = pytest.mark.postgres

PAYER, PAYEE = "payerfsp", "payeefsp"


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[Database]:
    db = open_database(pg_url)
    yield db
    await db.dispose()


async def test_raw_statements_run_inside_the_sqlalchemy_transaction(pg: Database) -> None:
    async with pg.write() as conn:
        await b.dfsp(conn, PAYER)

    async def write_then_fail() -> None:
        async with pg.write() as conn:
            batch = Batch()
            batch.with_("moved", "UPDATE position AS p SET value = p.value + u.delta FROM "
                        + unnest(batch, [("delta", "int8", [7])]))
            await batch.run(conn)  # the first statement of the transaction: BEGIN must precede it
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError, match="roll back"):
        await write_then_fail()
    async with pg.read() as conn:
        values = (await conn.execute(select(position.c.value))).scalars().all()
    assert 7 not in values, "a raw write survived the rollback of its transaction"
    async with pg.write() as conn:
        pgconn = await driver(conn)
        assert pgconn.is_in_transaction()


def _headers(source: str, destination: str | None, method: str) -> Any:
    raw = b.fspiop_headers(source, destination, method=method, now=b.T0)
    return validate_headers("transfers", method, Headers(headers=raw), has_body=True)


def _script(pairs: list[tuple[str, str]], ids: list[str]) -> list[list[Command]]:
    """Batches covering every write: prepares (one rejected by the NDC), a duplicate resend, a
    commit, a payee error, and an expiry (the last batch, run after the clock moved on)."""
    def prepare(i: int, amount: str, expires_in: float = 60) -> Command:
        body = b.prepare_body(payer=PAYER, payee=PAYEE, amount=amount, condition=pairs[i][1],
                              expiration=b.in_future(b.T0, expires_in), transfer_id=ids[i])
        return prepare_command(_headers(PAYER, PAYEE, "POST"), b.dumps(body))

    fulfil_raw = b.dumps(b.fulfil_body(fulfilment=pairs[0][0], completed=b.T0))
    error_raw = b.dumps({"errorInformation": {"errorCode": "5101", "errorDescription": "Payee rejected"}})
    return [
        [prepare(0, "100"), prepare(1, "200"), prepare(2, "5000"), prepare(3, "1", expires_in=1)],
        [fulfil_command(ids[0], _headers(PAYEE, PAYER, "PUT"), fulfil_raw, now=b.T0,
                        future_tolerance_ms=200, max_age_s=300),
         abort_command(ids[1], _headers(PAYEE, PAYER, "PUT"), error_raw),
         prepare(0, "100")],
    ]


_TABLES: Sequence[tuple[Table, tuple[str, ...]]] = (
    (transfer, ()), (transfer_ilp_packet, ()), (transfer_state_change, ("id",)), (ledger_entry, ("id",)),
    (position, ()), (window_flow, ()), (outbox, ("id",)),
)


async def _run(url: str, script: list[list[Command]], *, one_statement: bool) -> dict[str, list[tuple[Any, ...]]]:
    db = open_database(url)
    clock = FixedClock(b.T0)
    svc = TransferService(db, clock, FspiopTransferRenderer("Hub"),
                          TransferConfig(batch_window_s=0, one_statement_writes=one_statement))
    try:
        async with db.write() as conn:
            await b.dfsp(conn, PAYER, ndc=1_000 * b.UNITS, liquidity=5_000 * b.UNITS)
            await b.dfsp(conn, PAYEE)
        for batch in script:
            await svc.execute(batch)
        clock.advance(5)
        assert await svc.sweep_once() == 1
        dump: dict[str, list[tuple[Any, ...]]] = {}
        async with db.read() as conn:
            for table, skip in _TABLES:
                cols = [c for c in table.columns if c.name not in skip]
                order = [table.c.id] if "id" in skip else list(table.primary_key.columns)
                rows = (await conn.execute(select(*cols).order_by(*order))).all()
                dump[table.name] = [tuple(r) for r in rows]
        return dump
    finally:
        await svc.close()
        await db.dispose()


async def test_one_statement_batches_write_exactly_the_generic_rows(pg_server: str, pg_template: str) -> None:
    names = [f"mojahub_t_eq_{secrets.token_hex(4)}" for _ in range(2)]
    for name in names:
        await _pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        pairs = [b.fulfilment_pair() for _ in range(4)]
        ids = [b.new_id() for _ in range(4)]
        generic, fast = await asyncio.gather(
            _run(f"{pg_server}/{names[0]}", _script(pairs, ids), one_statement=False),
            _run(f"{pg_server}/{names[1]}", _script(pairs, ids), one_statement=True),
        )
    finally:
        for name in names:
            await _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert generic["transfer"], "the script wrote nothing"
    assert len(generic["ledger_entry"]) >= 6
    assert generic["window_flow"], "the commit reached no settlement window"
    for table, _ in _TABLES:
        assert fast[table.name] == generic[table.name], table.name


async def test_the_pointer_row_missing_falls_back_to_the_generic_path(pg: Database) -> None:
    async with pg.write() as conn:
        await b.dfsp(conn, PAYER, ndc=1_000 * b.UNITS, liquidity=5_000 * b.UNITS)
        await b.dfsp(conn, PAYEE)
        await conn.execute(text("DELETE FROM settlement_open_window"))
    # One attempt only: the fallback must not use it up (and must never end without committing).
    svc = TransferService(pg, FixedClock(b.T0), FspiopTransferRenderer("Hub"),
                          TransferConfig(batch_window_s=0, transaction_attempts=1))
    try:
        pairs = [b.fulfilment_pair() for _ in range(4)]
        ids = [b.new_id() for _ in range(4)]
        for batch in _script(pairs, ids):
            await svc.execute(batch)
    finally:
        await svc.close()
    async with pg.read() as conn:
        window = (await conn.execute(select(transfer.c.settlement_window_id)
                                     .where(transfer.c.transfer_id == ids[0]))).scalar_one()
        pointer = (await conn.execute(text("SELECT window_id FROM settlement_open_window"))).scalar_one()
    assert window is not None
    assert window == pointer
