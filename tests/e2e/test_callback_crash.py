"""Callbacks survive a hub process killed with SIGKILL, and several hub processes on one
PostgreSQL database deliver each callback exactly once. Real ``mojahub serve`` subprocesses,
real loopback DFSPs."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from mojahub.callbacks import store
from mojahub.storage.engine import Database, open_database
from mojahub.storage.migrate import upgrade
from mojahub.storage.outbox import outbox
from tests.service.test_dispatcher import add_participant, fsp_endpoints, put, transfer_put
from tests.support.dfsp import DfspServer

HUB_ENV = {
    "MOJAHUB_CALLBACK_POLL_INTERVAL_S": "0.05",
    "MOJAHUB_CALLBACK_BACKOFF_BASE_S": "0.05",
    "MOJAHUB_CALLBACK_BACKOFF_MAX_S": "0.2",
    "MOJAHUB_CALLBACK_ATTEMPTS_MAX": "1000",
    "MOJAHUB_CALLBACK_LEASE_S": "2",
    "MOJAHUB_CALLBACK_ENDPOINT_CACHE_S": "0",
    "MOJAHUB_LOG_LEVEL": "warning",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubProcess:
    def __init__(self, database_url: str, log_path: Path, **env: str) -> None:
        self.fspiop_port = free_port()
        self.admin_port = free_port()
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mojahub", "serve", "--database-url", database_url,
             "--fspiop-port", str(self.fspiop_port), "--admin-port", str(self.admin_port)],
            env={**os.environ, **HUB_ENV, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    async def ready(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while True:
                assert self.proc.poll() is None, f"hub exited with {self.proc.returncode}"
                try:
                    async with http.get(f"http://127.0.0.1:{self.admin_port}/health") as resp:
                        if resp.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                assert time.monotonic() < deadline, "hub did not become healthy"
                await asyncio.sleep(0.1)

    def kill9(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()
        self._log.close()


@contextmanager
def hub_process(database_url: str, log_path: Path, **env: str) -> Iterator[HubProcess]:
    hub = HubProcess(database_url, log_path, **env)
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture
async def migrated(db_url: str) -> Database:
    db = open_database(db_url)
    await upgrade(db.engine)
    return db


async def outbox_rows(db: Database, request_id: str) -> list[object]:
    async with db.read() as conn:
        return list((await conn.execute(select(outbox).where(outbox.c.request_id == request_id))).all())


async def attempts(db: Database, request_id: str) -> int:
    async with db.read() as conn:
        return await store.attempt_count(conn, request_id)


async def until(predicate_coro, within: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not await predicate_coro():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_callbacks_pending_or_in_flight_at_a_kill_9_are_delivered_after_restart(
    migrated: Database, db_url: str, tmp_path: Path
) -> None:
    """Two messages when the hub is killed: one whose DFSP is not up yet (attempts refused, still
    PENDING) and one the DFSP received but had not answered (claimed, lease running)."""
    db = migrated
    late_port = free_port()  # this DFSP is not up yet: every attempt is refused
    gate = asyncio.Event()

    async def hold(_r: object) -> None:
        await gate.wait()

    await add_participant(db, "latefsp", fsp_endpoints(f"http://127.0.0.1:{late_port}"))
    late = DfspServer("latefsp")
    try:
        async with DfspServer("slowfsp", responder=hold) as slow:
            await add_participant(db, "slowfsp", fsp_endpoints(slow.url))
            with hub_process(db_url, tmp_path / "hub1.log") as first:
                await first.ready()
                await put(db, transfer_put("t-late", recipient="latefsp"), transfer_put("t-held", recipient="slowfsp"))
                await slow.next_request(method="PUT", path="/transfers/t-held", timeout=20)

                async def attempted() -> bool:
                    return await attempts(db, "t-late") >= 2

                await until(attempted)
                first.kill9()  # slowfsp got t-held, the hub never saw the answer
            for request_id in ("t-late", "t-held"):
                [row] = await outbox_rows(db, request_id)
                assert row.state == "PENDING"  # type: ignore[attr-defined]
                assert row.delivered_at is None  # type: ignore[attr-defined]

            gate.set()
            await _start_on(late, late_port)
            with hub_process(db_url, tmp_path / "hub2.log") as second:
                await second.ready()
                req = await late.next_request(method="PUT", path="/transfers/t-late", timeout=20)
                # At-least-once: the in-flight one is sent again once its lease has run out.
                await slow.next_request(method="PUT", path="/transfers/t-held", timeout=20)

                async def delivered() -> bool:
                    rows = [*await outbox_rows(db, "t-late"), *await outbox_rows(db, "t-held")]
                    return all(r.state == "DELIVERED" for r in rows)  # type: ignore[attr-defined]

                await until(delivered)
        assert b"COMMITTED" in req.body
        assert req.header("FSPIOP-Destination") == "latefsp"
    finally:
        await late.stop()
        await db.dispose()


@pytest.mark.postgres
async def test_two_hub_processes_on_one_postgres_deliver_each_callback_exactly_once(
    pg_url: str, tmp_path: Path
) -> None:
    db = open_database(pg_url)
    n = 400
    try:
        async with DfspServer("payer") as dfsp:
            await add_participant(db, "payer", fsp_endpoints(dfsp.url))
            await put(db, *[transfer_put(f"x-{i}") for i in range(n)])
            with hub_process(pg_url, tmp_path / "a.log", MOJAHUB_CALLBACK_BATCH_SIZE="20",
                             MOJAHUB_CALLBACK_LEASE_S="60") as a, \
                    hub_process(pg_url, tmp_path / "b.log", MOJAHUB_CALLBACK_BATCH_SIZE="20",
                                MOJAHUB_CALLBACK_LEASE_S="60") as b:
                await a.ready()
                await b.ready()

                async def all_delivered() -> bool:
                    async with db.read() as conn:
                        left = (await conn.execute(
                            select(outbox.c.id).where(outbox.c.state != "DELIVERED"))).all()
                    return not left

                await until(all_delivered, within=60)
            paths = [r.path for r in dfsp.requests]
        assert len(paths) == n
        assert len(set(paths)) == n
        async with db.read() as conn:
            recorded = await store.attempt_count(conn)
        assert recorded == n
    finally:
        await db.dispose()


async def _start_on(dfsp: DfspServer, port: int) -> None:
    """Start a DfspServer on a given port (the endpoint registered before it existed)."""
    from aiohttp import web

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", dfsp._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    dfsp._runner = runner
    dfsp.port = port
