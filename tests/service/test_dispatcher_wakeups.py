"""Adaptive claim polling, cross-process NOTIFY wake-ups and the per-recipient endpoint cache of
the outbox dispatcher, on real databases and real loopback DFSPs."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from sqlalchemy import select, update

from mojahub.callbacks import store
from mojahub.callbacks.wake import OutboxSignal, announce_on_wakeup, asyncpg_dsn
from mojahub.participants.tables import participant, participant_endpoint
from mojahub.storage.engine import Database, open_database
from mojahub.storage.outbox import outbox
from tests.service.test_dispatcher import (
    P,
    add_participant,
    fsp_endpoints,
    put,
    running_dispatcher,
    transfer_put,
    wait_state,
)
from tests.support.dfsp import DfspServer


async def _until(check: object, within: float) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_an_idle_dispatcher_backs_off_its_claims(db: Database) -> None:
    async with running_dispatcher(db, callback_poll_interval_s=0.02, callback_idle_poll_max_s=0.4) as dispatcher:
        await asyncio.sleep(1.5)
        claims = dispatcher.claims
        delay = dispatcher.idle_delay_s
    # Polling every 20 ms would be ~75 claims; backing off 20 ms → 400 ms makes it about 8.
    assert claims <= 15
    assert delay == pytest.approx(0.4)


async def test_a_backed_off_dispatcher_still_delivers_at_once_when_notified(db: Database, payer: DfspServer) -> None:
    await add_participant(db, "payer", fsp_endpoints(payer.url))
    async with running_dispatcher(db, callback_poll_interval_s=0.02, callback_idle_poll_max_s=30.0) as dispatcher:
        await _until(lambda: dispatcher.idle_delay_s >= 0.3, within=10)
        await put(db, transfer_put("t-after-idle"))
        started = time.monotonic()
        dispatcher.wakeup.set()  # Hub.notify_outbox()
        await payer.next_request(method="PUT", path="/transfers/t-after-idle", timeout=10)
        assert time.monotonic() - started < 5  # far below the 30 s it could be sleeping for
        assert dispatcher.idle_delay_s < 30.0


async def test_a_retry_due_later_is_sent_on_time_although_the_dispatcher_backed_off(
    db: Database, payer: DfspServer
) -> None:
    await add_participant(db, "payer", fsp_endpoints(payer.url))
    calls: list[float] = []

    def first_fails(_request: object) -> tuple[int, None, None] | None:
        calls.append(time.monotonic())
        return (503, None, None) if len(calls) == 1 else None

    payer.respond_with(first_fails)
    # Polling alone would retry only after 5-30 s; the retry is due 300 ms after the failure.
    async with running_dispatcher(db, callback_poll_interval_s=5.0, callback_idle_poll_max_s=30.0,
                                  callback_backoff_base_s=0.3, callback_backoff_max_s=0.3) as dispatcher:
        await asyncio.sleep(0.2)  # its first (empty) claim: now sleeping for 10 s
        await put(db, transfer_put("t-retry"))
        dispatcher.wakeup.set()
        rows = await wait_state(db, "t-retry", "DELIVERED", within=10)
    assert rows[0].attempts == 2
    assert len(calls) == 2
    gap = calls[1] - calls[0]
    assert 0.25 <= gap < 3.0


async def test_a_message_enqueued_by_another_process_is_delivered_via_notify(
    pg_url: str, payer: DfspServer
) -> None:
    """Process A (no dispatcher of its own) commits a message and calls notify_outbox(); the
    dispatcher of process B, backed off for 20 s, is woken by PostgreSQL NOTIFY."""
    db_a, db_b = open_database(pg_url), open_database(pg_url)
    try:
        await add_participant(db_a, "payer", fsp_endpoints(payer.url))
        wakeup_a = asyncio.Event()
        signal_a = OutboxSignal(asyncpg_dsn(db_a.engine.url), asyncio.Event())
        announcer = asyncio.create_task(announce_on_wakeup(signal_a, wakeup_a))
        try:
            async with running_dispatcher(db_b, callback_poll_interval_s=10.0,
                                          callback_idle_poll_max_s=30.0) as b:
                assert b.signal is not None
                await _until(lambda: b.signal.connected and signal_a.connected and b.claims >= 1,  # type: ignore[union-attr]
                             within=10)
                await asyncio.sleep(0.1)
                claims_before = b.claims
                await put(db_a, transfer_put("t-notified"))
                started = time.monotonic()
                wakeup_a.set()  # A's Hub.notify_outbox() after the commit
                await payer.next_request(method="PUT", path="/transfers/t-notified", timeout=8)
                assert time.monotonic() - started < 5
                assert b.signal.received >= 1
                assert b.claims > claims_before
                assert b.started == 1
        finally:
            announcer.cancel()
            await asyncio.gather(announcer, return_exceptions=True)
    finally:
        await db_a.dispose()
        await db_b.dispose()


async def test_a_process_with_every_slot_busy_hands_work_to_another_via_notify(
    pg_url: str, payer: DfspServer
) -> None:
    db_a, db_b = open_database(pg_url), open_database(pg_url)
    payer.set_delay(1.5)  # A's 5 slots stay busy for 1.5 s
    try:
        await add_participant(db_a, "payer", fsp_endpoints(payer.url))
        async with running_dispatcher(db_b, callback_poll_interval_s=10.0, callback_idle_poll_max_s=30.0,
                                   callback_timeout_s=10.0) as b, \
                running_dispatcher(db_a, callback_poll_interval_s=10.0, callback_idle_poll_max_s=30.0,
                                   callback_concurrency=5, callback_batch_size=5, callback_timeout_s=10.0) as a:
            await _until(lambda: b.signal.connected and a.signal.connected  # type: ignore[union-attr]
                         and a.claims >= 1 and b.claims >= 1, within=10)
            await asyncio.sleep(0.1)
            await put(db_a, *[transfer_put(f"h-{i}") for i in range(30)])
            a.wakeup.set()
            for i in range(30):
                await wait_state(db_a, f"h-{i}", "DELIVERED", within=15)
        # B slept for 20 s after its empty claim: only A's NOTIFY can have made it take any.
        assert b.started >= 1
        assert a.started + b.started == 30
        async with db_a.read() as conn:
            attempts = await store.attempt_count(conn)
        assert attempts == 30
    finally:
        await db_a.dispose()
        await db_b.dispose()


async def test_a_dropped_listener_reconnects_and_polling_covers_the_gap(pg_url: str, payer: DfspServer) -> None:
    db = open_database(pg_url)
    try:
        await add_participant(db, "payer", fsp_endpoints(payer.url))
        async with running_dispatcher(db, callback_poll_interval_s=0.05, callback_idle_poll_max_s=30.0) as d:
            signal = d.signal
            assert signal is not None
            await _until(lambda: signal.connected, within=10)
            admin = await asyncpg.connect(asyncpg_dsn(db.engine.url))
            try:
                killed = await admin.fetchval(
                    "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE 'LISTEN%' AND datname = current_database()) t")
            finally:
                await admin.close()
            assert killed == 1
            await _until(lambda: not signal.connected, within=10)
            # Meanwhile another process enqueues without anyone able to NOTIFY: polling finds it.
            await put(db, transfer_put("t-gap"))
            await payer.next_request(method="PUT", path="/transfers/t-gap", timeout=10)
            await _until(lambda: signal.connected, within=15)
    finally:
        await db.dispose()


async def test_endpoints_of_loads_every_type_of_several_recipients_at_once(db: Database) -> None:
    await add_participant(db, "dfsp-a", {P + "TRANSFER_PUT": "http://a/put", P + "TRANSFER_POST": "http://a/post"})
    await add_participant(db, "dfsp-b", {P + "QUOTES": "http://b"})
    await add_participant(db, "dfsp-c")
    async with db.read() as conn:
        found = await store.endpoints_of(conn, ["dfsp-a", "dfsp-b", "dfsp-c", "nobody"])
    assert found == {
        "dfsp-a": {P + "TRANSFER_PUT": "http://a/put", P + "TRANSFER_POST": "http://a/post"},
        "dfsp-b": {P + "QUOTES": "http://b"},
        "dfsp-c": {},
    }


async def _set_endpoint(db: Database, name: str, endpoint_type: str, value: str) -> None:
    async with db.write() as conn:
        pid = (await conn.execute(select(participant.c.id).where(participant.c.name == name))).scalar_one()
        await conn.execute(
            update(participant_endpoint)
            .where(participant_endpoint.c.participant_id == pid, participant_endpoint.c.endpoint_type == endpoint_type)
            .values(value=value)
        )


async def test_a_changed_endpoint_is_used_once_the_cache_expires(
    db: Database, payer: DfspServer, payee: DfspServer
) -> None:
    await add_participant(db, "payer", fsp_endpoints(payer.url))
    async with running_dispatcher(db, callback_endpoint_cache_s=0.5) as dispatcher:
        await put(db, transfer_put("t-old-url"))
        dispatcher.wakeup.set()
        await payer.next_request(method="PUT", path="/transfers/t-old-url", timeout=10)
        # Another process (the operator API) changes it: this dispatcher sees it within the TTL.
        await _set_endpoint(db, "payer", P + "TRANSFER_PUT", payee.url + "/moved/{{transferId}}")
        await asyncio.sleep(0.6)
        await put(db, transfer_put("t-new-url"))
        dispatcher.wakeup.set()
        await payee.next_request(method="PUT", path="/moved/t-new-url", timeout=10)


async def test_an_endpoint_registered_after_a_miss_is_used_without_waiting_for_the_cache(
    db: Database, payer: DfspServer
) -> None:
    await add_participant(db, "payer", {P + "TRANSFER_POST": payer.url + "/transfers"})
    async with running_dispatcher(db, callback_endpoint_cache_s=60.0) as dispatcher:
        await put(db, transfer_put("t-no-endpoint"))
        dispatcher.wakeup.set()
        await wait_state(db, "t-no-endpoint", "FAILED")
        async with db.write() as conn:
            pid = (await conn.execute(select(participant.c.id).where(participant.c.name == "payer"))).scalar_one()
            now = (await conn.execute(select(outbox.c.created_at).limit(1))).scalar_one()
            await conn.execute(participant_endpoint.insert().values(
                participant_id=pid, endpoint_type=P + "TRANSFER_PUT", value=payer.url + "/transfers/{{transferId}}",
                created_at=now, changed_at=now))
        await put(db, transfer_put("t-registered"))
        dispatcher.wakeup.set()
        await payer.next_request(method="PUT", path="/transfers/t-registered", timeout=10)
