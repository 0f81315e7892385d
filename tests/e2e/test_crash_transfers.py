"""kill -9 of a real ``mojahub serve`` in the middle of a prepare/fulfil load, then a restart on
the same database: no accepted transfer is lost, none is reserved or committed twice, in-flight
reservations are resolved by a retried fulfil or by expiry, and the ledger still balances."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from sqlalchemy import select

from mojahub.ledger import service as ledger
from mojahub.ledger.tables import ledger_entry
from mojahub.storage.engine import Database
from mojahub.transfers.state import State
from mojahub.transfers.tables import transfer
from tests.e2e.test_callback_crash import hub_process, migrated  # noqa: F401 - fixture
from tests.support import builders as b
from tests.support.dfsp import DfspServer, ReceivedRequest

PAYER, PAYEE = "payerfsp", "payeefsp"
EXPIRY_S = 6.0


class Load:
    """Payer-side load generator plus the payee's automatic fulfils, pointed at the current hub."""

    def __init__(self) -> None:
        self.hub_url = ""
        self.secrets: dict[str, str] = {}
        self.bodies: dict[str, bytes] = {}
        self.accepted: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.http: aiohttp.ClientSession | None = None

    async def send(self, method: str, path: str, headers: dict[str, str], body: bytes) -> int | None:
        assert self.http is not None
        try:
            async with self.http.request(method, self.hub_url + path, headers=headers, data=body) as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientError, TimeoutError):
            return None  # the hub is down: the DFSP will retry

    async def prepare(self, tid: str) -> None:
        if await self.send("POST", "/transfers", b.fspiop_headers(PAYER), self.bodies[tid]) == 202:
            self.accepted.add(tid)

    async def fulfil(self, tid: str) -> None:
        body = orjson.dumps(b.fulfil_body(fulfilment=self.secrets[tid], completed=datetime.now(UTC)))
        await self.send("PUT", f"/transfers/{tid}", b.fspiop_headers(PAYEE, PAYER, method="PUT"), body)

    def on_payee_request(self, request: ReceivedRequest) -> None:
        if request.method == "POST" and request.path == "/transfers":
            task = asyncio.create_task(self.fulfil(request.json()["transferId"]))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def new_transfer(self) -> str:
        fulfilment, condition = b.fulfilment_pair()
        body = b.prepare_body(payer=PAYER, payee=PAYEE, amount="1", condition=condition,
                              expiration=datetime.now(UTC) + timedelta(seconds=EXPIRY_S))
        self.secrets[body["transferId"]] = fulfilment
        self.bodies[body["transferId"]] = orjson.dumps(body)
        return str(body["transferId"])

    async def run(self, seconds: float, clients: int = 8) -> None:
        deadline = time.monotonic() + seconds

        async def client() -> None:
            while time.monotonic() < deadline:
                await self.prepare(self.new_transfer())

        await asyncio.gather(*(client() for _ in range(clients)))


async def _transfers(db: Database) -> dict[str, str]:
    async with db.read() as conn:
        return {r.transfer_id: r.state for r in (await conn.execute(select(transfer.c.transfer_id,
                                                                            transfer.c.state))).all()}


async def test_kill_9_during_transfer_load_loses_nothing_and_commits_nothing_twice(
    migrated: Database, db_url: str, tmp_path: Path  # noqa: F811
) -> None:
    db = migrated
    load = Load()
    async with DfspServer(PAYER) as payer_srv, DfspServer(PAYEE, responder=load.on_payee_request) as payee_srv:
        async with db.write() as conn:
            accounts = {
                PAYER: await b.dfsp(conn, PAYER, endpoint_base=payer_srv.url, now=datetime.now(UTC)),
                PAYEE: await b.dfsp(conn, PAYEE, endpoint_base=payee_srv.url, now=datetime.now(UTC)),
            }
        env = {"MOJAHUB_EXPIRY_SWEEP_INTERVAL_S": "0.2"}
        async with aiohttp.ClientSession(skip_auto_headers=["Accept", "Content-Type"],
                                         timeout=aiohttp.ClientTimeout(total=5)) as http:
            load.http = http
            with hub_process(db_url, tmp_path / "hub1.log", **env) as first:
                await first.ready()
                load.hub_url = f"http://127.0.0.1:{first.fspiop_port}"
                running = asyncio.create_task(load.run(seconds=2.0))
                await asyncio.sleep(1.0)
                first.kill9()  # mid-load: prepares and fulfils in flight
                await running
            assert load.accepted, "no prepare was accepted before the kill"
            before = await _transfers(db)
            assert load.accepted <= before.keys(), "a prepare answered 202 was lost"

            with hub_process(db_url, tmp_path / "hub2.log", **env) as second:
                await second.ready()
                load.hub_url = f"http://127.0.0.1:{second.fspiop_port}"
                # DFSPs retry: the payer resends every prepare (accepted or not), the payee every fulfil.
                limit = asyncio.Semaphore(16)

                async def retry(tid: str) -> None:
                    async with limit:
                        await load.prepare(tid)
                        await load.fulfil(tid)

                await asyncio.gather(*(retry(tid) for tid in list(load.bodies)))
                deadline = time.monotonic() + EXPIRY_S + 10
                while any(s == State.RESERVED.value for s in (await _transfers(db)).values()):
                    assert time.monotonic() < deadline, "reservations left unresolved after restart"
                    await asyncio.sleep(0.2)
                if load.tasks:
                    await asyncio.gather(*load.tasks, return_exceptions=True)

    after = await _transfers(db)
    assert load.accepted <= after.keys()
    resolved = {State.COMMITTED.value, State.EXPIRED_RESERVED.value}
    assert {after[tid] for tid in before} <= resolved
    # A prepare first seen after the restart may already be past its expiration: INVALID, no money.
    assert set(after.values()) <= resolved | {State.INVALID.value}
    assert Counter(after.values())[State.COMMITTED.value] > 0
    async with db.read() as conn:
        entries = (await conn.execute(select(ledger_entry.c.transfer_id, ledger_entry.c.account_id,
                                             ledger_entry.c.change)
                                      .where(ledger_entry.c.entry_type == "PRINCIPLE_VALUE"))).all()
        stored = await ledger.stored_positions(conn)
        rebuilt = await ledger.rebuilt_positions(conn)
    per_transfer: dict[str, list[Any]] = {}
    for e in entries:
        per_transfer.setdefault(e.transfer_id, []).append(e)
    for tid, rows in per_transfer.items():
        reserve = [r for r in rows if r.change > 0]
        resolve = [r for r in rows if r.change < 0]
        assert len(reserve) == 1, f"{tid} reserved {len(reserve)} times"
        assert len(resolve) == 1, f"{tid} resolved {len(resolve)} times"
        committed = [r for r in resolve if r.account_id == accounts[PAYEE].position_account_id]
        assert bool(committed) == (after[tid] == State.COMMITTED.value)
    assert {a: v for a, v in stored.items() if v} == {a: v for a, v in rebuilt.items() if v}
    assert sum(stored.values()) == 0  # nothing in flight: money conserved
    await db.dispose()
