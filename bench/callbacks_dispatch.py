"""Outbox dispatcher micro-benchmark: callbacks/s from a backlog, and enqueue→arrival latency of
single notified messages. Dispatcher and receiving DFSP share this one process (pessimistic).

    .venv/bin/python -m bench.callbacks_dispatch --backend sqlite --messages 5000
    .venv/bin/python -m bench.callbacks_dispatch --backend postgres --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
from aiohttp import web
from sqlalchemy import func, insert, select

from mojahub.callbacks.dispatcher import Dispatcher
from mojahub.fspiop.outbound import hub_headers
from mojahub.kernel.clock import SystemClock
from mojahub.participants.tables import participant, participant_endpoint
from mojahub.settings import Settings
from mojahub.storage.engine import Database, open_database
from mojahub.storage.migrate import upgrade
from mojahub.storage.outbox import DELIVERED, OutboundMessage, enqueue, outbox

P = "FSPIOP_CALLBACK_URL_"


class Receiver:
    def __init__(self) -> None:
        self.count = 0
        self.arrived: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def until(self, done: Callable[[], bool], within: float = 600.0) -> None:
        async with asyncio.timeout(within):
            while not done():
                self.changed.clear()
                await self.changed.wait()

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.count += 1
        self.arrived[request.path] = time.perf_counter()
        self.changed.set()
        return web.Response(status=200)


def message(i: str) -> OutboundMessage:
    path = f"/transfers/{i}"
    return OutboundMessage(
        recipient="payer", endpoint_type=P + "TRANSFER_PUT", method="PUT", path=path,
        headers=hub_headers(resource="transfers", destination="payer", method="PUT", path=path,
                            hub_name="Hub", now=datetime.now(UTC)),
        body=b'{"transferState":"COMMITTED","completedTimestamp":"2026-01-01T00:00:00.000Z"}',
        params={"transferId": i}, request_id=i,
    )


async def delivered(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).where(outbox.c.state == DELIVERED))).scalar_one())


async def main(backend: str, n: int, singles: int, pg_url: str) -> None:
    admin_dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"
    name = f"mojahub_bench_cb_{secrets.token_hex(3)}"
    if backend == "postgres":
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        url = f"{pg_url}/{name}"
    else:
        url = f"sqlite+aiosqlite:///{os.path.join(tempfile.mkdtemp(), 'bench.db')}"
    db = open_database(url)
    await upgrade(db.engine)
    receiver = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    now = datetime.now(UTC)
    async with db.write() as c:
        pid = (await c.execute(insert(participant).values(
            name="payer", is_active=True, is_proxy=False, created_at=now, created_by="bench"
        ).returning(participant.c.id))).scalar_one()
        await c.execute(insert(participant_endpoint).values(
            participant_id=pid, endpoint_type=P + "TRANSFER_PUT",
            value=f"http://127.0.0.1:{port}/transfers/{{{{transferId}}}}", created_at=now, changed_at=now))
    settings = Settings(database_url=url)
    dispatcher = Dispatcher(settings, db, SystemClock())
    task = asyncio.create_task(dispatcher.run())
    try:
        # 1. Backlog drain.
        for start in range(0, n, 1000):
            async with db.write() as c:
                await enqueue(c, [message(f"b{i}") for i in range(start, min(n, start + 1000))], now=datetime.now(UTC))
        t0, cpu0 = time.perf_counter(), time.process_time()
        dispatcher.wakeup.set()
        await receiver.until(lambda: receiver.count >= n)
        for _ in range(10_000):  # bounded: the last attempts being recorded
            if await delivered(db) >= n:
                break
            await asyncio.sleep(0.02)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        print(f"{backend}: drained {n} callbacks in {elapsed:.2f}s = {n / elapsed:.0f} callbacks/s wall, "
              f"{cpu:.2f} CPU-s (dispatcher + receiver) = {n / cpu:.0f} callbacks per CPU-second; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
              f"{getattr(dispatcher, 'claims', '?')} claims")
        # 2. Latency of one notified message at a time (commit → arrival at the DFSP).
        lat: list[float] = []
        for k in range(singles):
            tid = f"s{k}"
            async with db.write() as c:
                await enqueue(c, [message(tid)], now=datetime.now(UTC))
            sent = time.perf_counter()
            dispatcher.wakeup.set()
            await receiver.until(lambda: f"/transfers/{tid}" in receiver.arrived)  # noqa: B023
            lat.append((receiver.arrived[f"/transfers/{tid}"] - sent) * 1000)
        lat.sort()
        print(f"{backend}: notify→arrival latency over {singles}: median {statistics.median(lat):.1f} ms, "
              f"p95 {lat[int(0.95 * (len(lat) - 1))]:.1f} ms")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.cleanup()
        await db.dispose()
        if backend == "postgres":
            conn = await asyncpg.connect(admin_dsn)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--singles", type=int, default=200)
    ap.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432")
    a = ap.parse_args()
    asyncio.run(main(a.backend, a.messages, a.singles, a.pg_url))
