"""The outbox dispatcher against real databases (SQLite and PostgreSQL) and real loopback DFSPs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import insert, select

from mojahub.callbacks import store
from mojahub.callbacks.dispatcher import Dispatcher
from mojahub.fspiop.outbound import hub_headers
from mojahub.kernel.clock import SystemClock
from mojahub.participants.tables import participant, participant_endpoint
from mojahub.settings import Settings
from mojahub.storage.engine import Database
from mojahub.storage.outbox import OutboundMessage, enqueue, outbox
from tests.support.dfsp import DfspServer, ReceivedRequest

P = "FSPIOP_CALLBACK_URL_"

FAST = {
    "callback_poll_interval_s": 0.02,
    "callback_backoff_base_s": 0.02,
    "callback_backoff_max_s": 0.1,
    "callback_attempts_max": 3,
    "callback_timeout_s": 2.0,
    "callback_connect_timeout_s": 1.0,
    "callback_endpoint_cache_s": 0.0,
    "callback_lease_s": 30.0,
    "hub_name": "Hub",
}


def _now() -> datetime:
    return datetime.now(UTC)


async def add_participant(db: Database, name: str, endpoints: Mapping[str, str] | None = None) -> None:
    now = _now()
    async with db.write() as conn:
        pid = (
            await conn.execute(
                insert(participant)
                .values(name=name, is_active=True, is_proxy=False, created_at=now, created_by="test")
                .returning(participant.c.id)
            )
        ).scalar_one()
        for endpoint_type, value in (endpoints or {}).items():
            await conn.execute(
                insert(participant_endpoint).values(
                    participant_id=pid, endpoint_type=endpoint_type, value=value, created_at=now, changed_at=now
                )
            )


def fsp_endpoints(base: str) -> dict[str, str]:
    """The TTK-style endpoint set of one DFSP served at ``base``."""
    return {
        P + "PARTIES_GET": base + "/parties/{{partyIdType}}/{{partyIdentifier}}",
        P + "PARTIES_PUT": base + "/parties/{{partyIdType}}/{{partyIdentifier}}",
        P + "PARTIES_PUT_ERROR": base + "/parties/{{partyIdType}}/{{partyIdentifier}}/error",
        P + "QUOTES": base,
        P + "TRANSFER_POST": base + "/transfers",
        P + "TRANSFER_PUT": base + "/transfers/{{transferId}}",
        P + "TRANSFER_ERROR": base + "/transfers/{{transferId}}/error",
    }


def transfer_put(transfer_id: str, recipient: str = "payer", origin: str | None = None) -> OutboundMessage:
    path = f"/transfers/{transfer_id}"
    body = orjson.dumps({"transferState": "COMMITTED", "completedTimestamp": "2026-01-01T00:00:00.000Z"})
    return OutboundMessage(
        recipient=recipient,
        endpoint_type=P + "TRANSFER_PUT",
        method="PUT",
        path=path,
        headers=hub_headers(resource="transfers", destination=recipient, method="PUT", path=path,
                            hub_name="Hub", now=_now()),
        body=body,
        params={"transferId": transfer_id},
        request_id=transfer_id,
        origin=origin,
    )


async def put(db: Database, *messages: OutboundMessage) -> None:
    async with db.write() as conn:
        await enqueue(conn, list(messages), now=_now())


async def rows_for(db: Database, request_id: str) -> list[Any]:
    async with db.read() as conn:
        return list((await conn.execute(select(outbox).where(outbox.c.request_id == request_id)
                                        .order_by(outbox.c.id))).all())


async def attempts_for(db: Database, request_id: str) -> list[Any]:
    """Every recorded attempt of a request's messages, oldest first (through the operator read)."""
    async with db.read() as conn:
        ids = [r.id for r in (await conn.execute(
            select(outbox.c.id).where(outbox.c.request_id == request_id).order_by(outbox.c.id))).all()]
        by_message = await store.attempts_of(conn, ids)
    return [SimpleNamespace(**a) for i in ids for a in by_message[i]]


async def wait_state(db: Database, request_id: str, state: str, *, count: int = 1, within: float = 10.0) -> list[Any]:
    """The outbox rows of a request once ``count`` of them are in ``state`` (bounded wait)."""
    deadline = time.monotonic() + within
    while True:
        rows = await rows_for(db, request_id)
        if sum(1 for r in rows if r.state == state) >= count:
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"{request_id}: wanted {count} {state}, have {[(r.state, r.path) for r in rows]}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running_dispatcher(db: Database, **overrides: Any) -> AsyncIterator[Dispatcher]:
    settings = Settings(database_url="sqlite+aiosqlite:///unused.db", **{**FAST, **overrides})
    dispatcher = Dispatcher(settings, db, SystemClock())
    task = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_delivers_to_rendered_template_with_byte_exact_body_and_headers(
    db: Database, payer: DfspServer
) -> None:
    await add_participant(db, "payer", fsp_endpoints(payer.url))
    body = b'{"transferState":"COMMITTED",  "weird spacing" : 1.50}'
    headers = {
        "Content-Type": "application/vnd.interoperability.transfers+json;version=1.1",
        "Date": "Tue, 15 Nov 1994 08:12:31 GMT",
        "FSPIOP-Source": "payee",
        "FSPIOP-Destination": "payer",
        "FSPIOP-Signature": '{"signature":"abc","protectedHeader":"xyz"}',
    }
    await put(db, OutboundMessage(
        recipient="payer", endpoint_type=P + "TRANSFER_PUT", method="PUT", path="/transfers/t-1",
        headers=headers, body=body, params={"transferId": "t-1"}, request_id="t-1", origin="payee",
    ))
    async with running_dispatcher(db):
        req = await payer.next_request(method="PUT", path="/transfers/t-1", timeout=10)
        rows = await wait_state(db, "t-1", "DELIVERED")
    assert req.body == body
    for name, value in headers.items():
        assert req.header(name) == value
    assert req.header("Accept") is None
    assert rows[0].attempts == 1
    assert rows[0].delivered_at is not None
    assert rows[0].claimed_until is None
    attempts = await attempts_for(db, "t-1")
    assert [(a.status, a.error) for a in attempts] == [(200, None)]
    assert attempts[0].url == f"{payer.url}/transfers/t-1"
    assert attempts[0].latency_ms is not None


async def test_base_url_endpoint_gets_the_message_path_appended(db: Database, payee: DfspServer) -> None:
    await add_participant(db, "payee", {P + "QUOTES": payee.url + "/"})
    await put(db, OutboundMessage(
        recipient="payee", endpoint_type=P + "QUOTES", method="POST", path="/quotes",
        headers={"Content-Type": "application/vnd.interoperability.quotes+json;version=1.1"},
        body=b'{"quoteId":"q-1"}', request_id="q-1", origin="payer",
    ))
    async with running_dispatcher(db):
        req = await payee.next_request(method="POST", timeout=10)
        await wait_state(db, "q-1", "DELIVERED")
    assert req.path == "/quotes"
    assert req.body == b'{"quoteId":"q-1"}'


async def test_party_placeholders_come_from_params(db: Database, payee: DfspServer) -> None:
    await add_participant(db, "payee", {P + "PARTIES_GET": payee.url + "/x/{{partyIdType}}/{{partyIdentifier}}"})
    await put(db, OutboundMessage(
        recipient="payee", endpoint_type=P + "PARTIES_GET", method="GET", path="/parties/MSISDN/123",
        headers={"Accept": "application/vnd.interoperability.parties+json;version=1"}, body=None,
        params={"partyIdType": "MSISDN", "partyIdentifier": "123"}, request_id="pp-1",
    ))
    async with running_dispatcher(db):
        req = await payee.next_request(method="GET", timeout=10)
    assert req.path == "/x/MSISDN/123"
    # A forwarded GET keeps the sender's Accept (only hub-originated callbacks have none).
    assert req.header("Accept") == "application/vnd.interoperability.parties+json;version=1"


async def test_server_error_then_success_is_retried_and_delivered(db: Database, payer: DfspServer) -> None:
    await add_participant(db, "payer", fsp_endpoints(payer.url))
    answers = iter([500, 200])
    payer.respond_with(lambda _r: (next(answers), None, None))
    await put(db, transfer_put("t-retry"))
    async with running_dispatcher(db):
        rows = await wait_state(db, "t-retry", "DELIVERED")
    assert rows[0].attempts == 2
    assert [a.status for a in await attempts_for(db, "t-retry")] == [500, 200]
    assert len(payer.requests) == 2


async def test_always_failing_server_is_retried_a_bounded_number_of_times_then_failed(
    db: Database, payer: DfspServer, payee: DfspServer
) -> None:
    await add_participant(db, "payer", fsp_endpoints(payer.url))
    await add_participant(db, "payee", fsp_endpoints(payee.url))
    payee.respond_with(lambda _r: (503, b"busy", None))
    forwarded = OutboundMessage(
        recipient="payee", endpoint_type=P + "TRANSFER_POST", method="POST", path="/transfers",
        headers={"Content-Type": "application/vnd.interoperability.transfers+json;version=1.1",
                 "FSPIOP-Source": "payer"},
        body=b'{"transferId":"t-dead"}', params={"transferId": "t-dead"}, request_id="t-dead", origin="payer",
    )
    await put(db, forwarded)
    async with running_dispatcher(db, callback_attempts_max=3):
        rows = await wait_state(db, "t-dead", "FAILED")
        error = await payer.next_request(method="PUT", path="/transfers/t-dead/error", timeout=10)
        await wait_state(db, "t-dead", "DELIVERED")  # the error callback to the payer
    failed = next(r for r in rows if r.recipient == "payee")
    assert failed.attempts == 3
    assert failed.last_error == "HTTP 503"
    assert [a.status for a in await attempts_for(db, "t-dead") if a.outbox_id == failed.id] == [503, 503, 503]
    assert len(payee.requests) == 3
    info = error.json()["errorInformation"]
    assert info["errorCode"] == "1001"
    assert info["errorDescription"].startswith("Destination communication error")
    assert error.header("FSPIOP-Source") == "Hub"
    assert error.header("FSPIOP-Destination") == "payer"
    assert error.header("FSPIOP-URI") == "/transfers/t-dead/error"
    assert error.header("FSPIOP-HTTP-Method") == "PUT"
    assert error.header("Content-Type") == "application/vnd.interoperability.transfers+json;version=1.1"
    assert error.header("Accept") is None


async def test_timeouts_are_retried_then_failed_and_recorded(db: Database, payer: DfspServer) -> None:
    await add_participant(db, "payer", fsp_endpoints(payer.url))
    payer.set_delay(1.0)
    await put(db, transfer_put("t-slow"))
    async with running_dispatcher(db, callback_timeout_s=0.3, callback_attempts_max=2):
        rows = await wait_state(db, "t-slow", "FAILED")
    assert rows[0].attempts == 2
    attempts = await attempts_for(db, "t-slow")
    assert len(attempts) == 2
    assert all(a.status is None and a.error.startswith("timeout") for a in attempts)


async def test_unreachable_host_is_a_retried_network_error(db: Database) -> None:
    await add_participant(db, "payer", fsp_endpoints("http://127.0.0.1:9"))
    await put(db, transfer_put("t-refused"))
    async with running_dispatcher(db, callback_attempts_max=2):
        rows = await wait_state(db, "t-refused", "FAILED")
    assert rows[0].attempts == 2
    assert all(a.status is None and a.error for a in await attempts_for(db, "t-refused"))


async def test_client_error_is_not_retried(db: Database, payer: DfspServer) -> None:
    await add_participant(db, "payer", fsp_endpoints(payer.url))
    payer.respond_with(lambda _r: (400, b'{"errorInformation":{}}', None))
    await put(db, transfer_put("t-4xx"))
    async with running_dispatcher(db, callback_attempts_max=5):
        rows = await wait_state(db, "t-4xx", "FAILED")
        await payer.next_request(method="PUT", path="/transfers/t-4xx")
        await payer.assert_no_request(within=0.3)
    assert rows[0].attempts == 1
    assert [a.status for a in await attempts_for(db, "t-4xx")] == [400]
    assert len(payer.requests) == 1


async def test_missing_endpoint_fails_and_tells_the_origin_with_3201(db: Database, payer: DfspServer) -> None:
    await add_participant(db, "payer", fsp_endpoints(payer.url))
    await add_participant(db, "payee", {})  # registered no endpoints at all
    await put(db, OutboundMessage(
        recipient="payee", endpoint_type=P + "PARTIES_GET", method="GET", path="/parties/MSISDN/777",
        headers={"Accept": "application/vnd.interoperability.parties+json;version=1",
                 "FSPIOP-Source": "payer", "Date": "Tue, 15 Nov 1994 08:12:31 GMT"},
        body=None, params={"partyIdType": "MSISDN", "partyIdentifier": "777"},
        request_id="parties/MSISDN/777", origin="payer",
    ))
    async with running_dispatcher(db):
        error = await payer.next_request(method="PUT", path="/parties/MSISDN/777/error", timeout=10)
        rows = await wait_state(db, "parties/MSISDN/777", "DELIVERED")
    failed = next(r for r in rows if r.recipient == "payee")
    assert failed.state == "FAILED"
    assert "payee has no FSPIOP_CALLBACK_URL_PARTIES_GET endpoint registered" in failed.last_error
    info = error.json()["errorInformation"]
    assert info["errorCode"] == "3201"
    assert info["errorDescription"].startswith("Destination FSP Error")
    assert error.header("FSPIOP-Source") == "Hub"
    assert error.header("FSPIOP-Destination") == "payer"
    assert error.header("Content-Type") == "application/vnd.interoperability.parties+json;version=1.0"


async def test_unknown_recipient_fails_with_a_clear_error(db: Database, payer: DfspServer) -> None:
    await add_participant(db, "payer", fsp_endpoints(payer.url))
    await put(db, transfer_put("t-ghost", recipient="ghostfsp", origin="payer"))
    async with running_dispatcher(db):
        rows = await wait_state(db, "t-ghost", "FAILED")
        await payer.next_request(method="PUT", path="/transfers/t-ghost/error", timeout=10)
    assert "ghostfsp is not a participant" in rows[0].last_error


async def test_an_undeliverable_error_callback_does_not_cascade(db: Database, payer: DfspServer) -> None:
    await add_participant(db, "payer", {})
    await add_participant(db, "payee", {})
    msg = OutboundMessage(
        recipient="payer", endpoint_type=P + "TRANSFER_ERROR", method="PUT", path="/transfers/t-e/error",
        headers={}, body=b"{}", params={"transferId": "t-e"}, request_id="t-e", origin="payee",
    )
    await put(db, msg)
    async with running_dispatcher(db):
        await wait_state(db, "t-e", "FAILED")
        await asyncio.sleep(0.2)
    assert len(await rows_for(db, "t-e")) == 1


async def test_slow_dfsp_does_not_delay_callbacks_to_another(
    db: Database, payer: DfspServer, payee: DfspServer
) -> None:
    gate = asyncio.Event()

    async def stuck(_r: ReceivedRequest) -> None:
        await gate.wait()

    await add_participant(db, "slowfsp", fsp_endpoints(payee.url))
    await add_participant(db, "payer", fsp_endpoints(payer.url))
    payee.respond_with(stuck)
    # More messages for the slow DFSP than the whole dispatcher has slots, enqueued first.
    await put(db, *[transfer_put(f"slow-{i}", recipient="slowfsp") for i in range(8)])
    await put(db, transfer_put("fast-1", recipient="payer"))
    try:
        async with running_dispatcher(db, callback_concurrency=4, callback_per_host_connections=2,
                                      callback_timeout_s=30.0):
            req = await payer.next_request(method="PUT", path="/transfers/fast-1", timeout=10)
            await wait_state(db, "fast-1", "DELIVERED")
            assert not gate.is_set()  # the slow DFSP is still holding its requests
            assert len(payee.requests) <= 2  # and never got more than its bound at once
            gate.set()
            for i in range(8):
                await wait_state(db, f"slow-{i}", "DELIVERED", within=20)
    finally:
        gate.set()
    assert req.body


async def test_notify_wakes_the_dispatcher_without_waiting_for_a_poll(db: Database, payer: DfspServer) -> None:
    await add_participant(db, "payer", fsp_endpoints(payer.url))
    async with running_dispatcher(db, callback_poll_interval_s=60.0) as dispatcher:
        await asyncio.sleep(0.1)  # let it go idle on its 60 s poll
        await put(db, transfer_put("t-wake"))
        dispatcher.wakeup.set()  # what Hub.notify_outbox() does after the commit
        await payer.next_request(method="PUT", path="/transfers/t-wake", timeout=10)


async def test_two_dispatchers_deliver_each_message_exactly_once(db: Database, db_url: str,
                                                                  payer: DfspServer) -> None:
    from mojahub.storage.engine import open_database

    await add_participant(db, "payer", fsp_endpoints(payer.url))
    n = 300
    await put(db, *[transfer_put(f"x-{i}") for i in range(n)])
    other = open_database(db_url)
    try:
        async with running_dispatcher(db, callback_batch_size=25), \
                running_dispatcher(other, callback_batch_size=25):
            deadline = time.monotonic() + 60
            while True:
                async with db.read() as conn:
                    delivered = len((await conn.execute(
                        select(outbox.c.id).where(outbox.c.state == "DELIVERED"))).all())
                if delivered == n or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
    finally:
        await other.dispose()
    assert delivered == n
    paths = [r.path for r in payer.requests]
    assert len(paths) == n
    assert len(set(paths)) == n
    async with db.read() as conn:
        attempts = await store.attempt_count(conn)
    assert attempts == n


async def test_housekeeping_purges_old_delivered_messages_and_keeps_failed_ones(
    db: Database, payer: DfspServer
) -> None:
    await add_participant(db, "payer", fsp_endpoints(payer.url))
    payer.respond_with(lambda r: (400, None, None) if r.path.endswith("/t-bad") else None)
    await put(db, transfer_put("t-old-1"), transfer_put("t-old-2"), transfer_put("t-bad"))
    async with running_dispatcher(db, callback_retention_s=0.05) as dispatcher:
        await wait_state(db, "t-old-1", "DELIVERED")
        await wait_state(db, "t-old-2", "DELIVERED")
        await wait_state(db, "t-bad", "FAILED")
        await asyncio.sleep(0.1)
        assert await dispatcher.housekeeping() == 2
    assert await rows_for(db, "t-old-1") == []
    assert await attempts_for(db, "t-old-1") == []
    assert [r.state for r in await rows_for(db, "t-bad")] == ["FAILED"]
    assert len(await attempts_for(db, "t-bad")) == 1


async def test_stopping_gives_in_flight_messages_back_at_once(db: Database, payer: DfspServer) -> None:
    gate = asyncio.Event()

    async def hold(_r: ReceivedRequest) -> None:
        await gate.wait()

    await add_participant(db, "payer", fsp_endpoints(payer.url))
    payer.respond_with(hold)
    await put(db, transfer_put("t-stop"))
    try:
        async with running_dispatcher(db, callback_lease_s=300.0):
            await payer.next_request(method="PUT", path="/transfers/t-stop", timeout=10)
            [claimed] = await rows_for(db, "t-stop")
            assert claimed.claimed_until is not None
    finally:
        gate.set()
    [row] = await rows_for(db, "t-stop")
    assert row.state == "PENDING"
    assert row.claimed_until is None  # the next dispatcher need not wait out the 300 s lease
