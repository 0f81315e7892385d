"""Real concurrency on PostgreSQL: several transfer services, each with its own connection pool
(as separate worker processes have), race on one hot payer position and on the same transfers."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from starlette.datastructures import Headers

from mojahub.fspiop.headers import validate_headers
from mojahub.fspiop.transfers import FspiopTransferRenderer, fulfil_command, prepare_command
from mojahub.kernel.clock import FixedClock
from mojahub.ledger import service as ledger
from mojahub.ledger.tables import ledger_entry
from mojahub.storage.engine import Database, open_database
from mojahub.transfers import store
from mojahub.transfers.model import Prepare
from mojahub.transfers.service import TransferConfig, TransferService
from mojahub.transfers.state import State
from mojahub.transfers.tables import transfer
from tests.support import builders as b

pytestmark = pytest.mark.postgres
PAYER, PAYEE = "payerfsp", "payeefsp"


@pytest.fixture
async def pools(pg_url: str) -> AsyncIterator[list[Database]]:
    dbs = [open_database(pg_url, pool_size=4) for _ in range(4)]
    async with dbs[0].write() as conn:
        await b.dfsp(conn, PAYER, ndc=2_000 * b.UNITS, liquidity=10_000 * b.UNITS)
        await b.dfsp(conn, PAYEE)
    yield dbs
    for db in dbs:
        await db.dispose()


def _services(dbs: list[Database], clock: FixedClock, window_s: float = 0.002) -> list[TransferService]:
    return [TransferService(db, clock, FspiopTransferRenderer("Hub"), TransferConfig(batch_window_s=window_s))
            for db in dbs]


def _headers(source: str, destination: str | None = None, method: str = "POST") -> object:
    return validate_headers("transfers", method, Headers(headers=b.fspiop_headers(source, destination,
                                                                                  method=method)), has_body=True)


def _prepare(clock: FixedClock, amount: str, expires_in: float = 60) -> tuple[Prepare, str]:
    fulfilment, condition = b.fulfilment_pair()
    body = b.prepare_body(payer=PAYER, payee=PAYEE, amount=amount, condition=condition,
                          expiration=clock.now() + timedelta(seconds=expires_in))
    return prepare_command(_headers(PAYER), b.dumps(body)), fulfilment  # type: ignore[arg-type]


async def _assert_conserved(db: Database) -> None:
    async with db.read() as conn:
        stored = await ledger.stored_positions(conn)
        rebuilt = await ledger.rebuilt_positions(conn)
        reserved = (await conn.execute(select(func.coalesce(func.sum(transfer.c.amount), 0))
                                       .where(transfer.c.state == State.RESERVED.value))).scalar_one()
    assert {a: v for a, v in stored.items() if v} == {a: v for a, v in rebuilt.items() if v}
    assert sum(stored.values()) == int(reserved)


async def test_fifty_concurrent_prepares_on_one_payer_never_exceed_the_net_debit_cap(pools: list[Database]) -> None:
    clock = FixedClock(b.T0)
    services = _services(pools, clock)
    commands = [_prepare(clock, "70")[0] for _ in range(50)]  # 50 x 70 = 3500 against an NDC of 2000
    await asyncio.gather(*(services[i % 4].submit(c) for i, c in enumerate(commands)))
    async with pools[0].read() as conn:
        states = Counter(t.state for t in (await store.load(conn, [c.transfer_id for c in commands])).values())
        acc = (await b.dfsp_accounts(conn, PAYER)).position_account_id
        value = (await ledger.read(conn, [acc]))[acc].value
    assert states[State.RESERVED] == 2_000 // 70
    assert states[State.ABORTED_REJECTED] == 50 - 2_000 // 70
    assert value == states[State.RESERVED] * 70 * b.UNITS <= 2_000 * b.UNITS
    await _assert_conserved(pools[0])
    for s in services:
        await s.close()


async def test_the_same_prepare_sent_through_every_worker_reserves_once(pools: list[Database]) -> None:
    clock = FixedClock(b.T0)
    services = _services(pools, clock, window_s=0)
    commands = [_prepare(clock, "10")[0] for _ in range(10)]
    await asyncio.gather(*(s.submit(c) for c in commands for s in services for _ in range(2)))
    async with pools[0].read() as conn:
        entries = Counter((await conn.execute(select(ledger_entry.c.transfer_id)
                                              .where(ledger_entry.c.entry_type == "PRINCIPLE_VALUE"))).scalars())
    assert entries == Counter({c.transfer_id: 1 for c in commands})
    await _assert_conserved(pools[0])
    for s in services:
        await s.close()


async def test_fulfils_racing_the_expiry_sweepers_resolve_each_reservation_exactly_once(
    pools: list[Database],
) -> None:
    early = FixedClock(b.T0)
    prepared = [_prepare(early, "5", expires_in=2) for _ in range(30)]
    setup = _services(pools[:1], early)[0]
    await asyncio.gather(*(setup.submit(c) for c, _ in prepared))
    # Fulfils decided just before expiry, sweepers in other workers already past it.
    fulfillers = _services(pools[:2], FixedClock(b.T0 + timedelta(seconds=1.5)))
    sweepers = _services(pools[2:], FixedClock(b.T0 + timedelta(seconds=10)))
    fulfils = [
        fulfil_command(c.transfer_id, _headers(PAYEE, PAYER, "PUT"),  # type: ignore[arg-type]
                       b.dumps(b.fulfil_body(fulfilment=f, completed=b.T0)), now=b.T0,
                       future_tolerance_ms=200, max_age_s=300)
        for c, f in prepared
    ]
    await asyncio.gather(
        *(fulfillers[i % 2].submit(f) for i, f in enumerate(fulfils)),
        *(s.sweep_once() for s in sweepers for _ in range(3)),
    )
    async with pools[0].read() as conn:
        states = Counter(t.state for t in (await store.load(conn, [c.transfer_id for c, _ in prepared])).values())
        per_transfer = Counter((await conn.execute(select(ledger_entry.c.transfer_id)
                                                   .where(ledger_entry.c.entry_type == "PRINCIPLE_VALUE"))).scalars())
    assert states[State.COMMITTED] + states[State.EXPIRED_RESERVED] == 30
    assert set(per_transfer.values()) == {2}  # one reservation, one resolution, never two
    await _assert_conserved(pools[0])
    for s in [setup, *fulfillers, *sweepers]:
        await s.close()
