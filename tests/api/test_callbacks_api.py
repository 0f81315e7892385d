"""Operator API over callback delivery, through a real hub on loopback (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.service.test_dispatcher import add_participant, fsp_endpoints, put, transfer_put
from tests.support.dfsp import DfspServer, RunningHub, serve_hub_for_test

FAST = {
    "callback_poll_interval_s": 0.02,
    "callback_backoff_base_s": 0.02,
    "callback_backoff_max_s": 0.1,
    "callback_attempts_max": 3,
    "callback_endpoint_cache_s": 0.0,
}


@pytest.fixture
async def running(db_url: str) -> AsyncIterator[RunningHub]:
    async with serve_hub_for_test(db_url, **FAST) as hub:
        yield hub


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as resp:
        return resp.status, await resp.json()


async def wait_for(http: aiohttp.ClientSession, url: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        status, body = await get_json(http, url)
        assert status == 200
        if body["state"] == state:
            return body  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.05)


async def test_failed_callback_is_listed_with_its_attempts_and_can_be_retried(
    running: RunningHub, http: aiohttp.ClientSession
) -> None:
    async with DfspServer("payer") as payer:
        db = running.hub.db
        await add_participant(db, "payer", fsp_endpoints(payer.url))
        payer.respond_with(lambda _r: (404, None, None))
        await put(db, transfer_put("t-op"))
        running.hub.notify_outbox()

        deadline = time.monotonic() + 10
        while True:
            status, listed = await get_json(http, f"{running.admin_url}/callbacks?requestId=t-op")
            assert status == 200
            if listed and listed[0]["state"] == "FAILED":
                break
            assert time.monotonic() < deadline, listed
            await asyncio.sleep(0.05)
        [message] = listed
        assert message["recipient"] == "payer"
        assert message["path"] == "/transfers/t-op"
        assert message["endpointType"] == "FSPIOP_CALLBACK_URL_TRANSFER_PUT"
        assert message["lastError"] == "HTTP 404"
        assert [(a["status"], a["url"]) for a in message["attemptLog"]] == [(404, f"{payer.url}/transfers/t-op")]
        assert '"transferState":"COMMITTED"' in message["body"]

        status, failed = await get_json(http, f"{running.admin_url}/callbacks?state=FAILED&limit=10")
        assert status == 200
        assert message["id"] in [m["id"] for m in failed]

        payer.respond_with(None)  # the DFSP is fixed: answers 200 now
        async with http.post(f"{running.admin_url}/callbacks/{message['id']}/retry") as resp:
            assert resp.status == 202
            assert (await resp.json())["state"] == "PENDING"
        await payer.next_request(method="PUT", path="/transfers/t-op")
        await payer.next_request(method="PUT", path="/transfers/t-op")
        done = await wait_for(http, f"{running.admin_url}/callbacks/{message['id']}", "DELIVERED")
        assert [a["status"] for a in done["attemptLog"]] == [404, 200]

        async with http.post(f"{running.admin_url}/callbacks/{message['id']}/retry") as resp:
            assert resp.status == 400
            info = (await resp.json())["errorInformation"]
            assert info["errorCode"] == "3000"
            assert "DELIVERED" in info["errorDescription"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("/callbacks?state=BOGUS", "3100"),
        ("/callbacks?limit=0", "3100"),
        ("/callbacks?limit=abc", "3100"),
        ("/callbacks?limit=100000", "3100"),
        ("/callbacks/abc", "3100"),
        ("/callbacks/987654", "3200"),
    ],
)
async def test_bad_operator_queries_get_a_json_error(
    running: RunningHub, http: aiohttp.ClientSession, query: str, code: str
) -> None:
    status, body = await get_json(http, running.admin_url + query)
    assert status == 400
    assert body["errorInformation"]["errorCode"] == code


async def test_retry_of_an_unknown_callback_is_3200(running: RunningHub, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{running.admin_url}/callbacks/424242/retry") as resp:
        assert resp.status == 400
        assert (await resp.json())["errorInformation"]["errorCode"] == "3200"


async def test_metrics_expose_callback_counters(running: RunningHub, http: aiohttp.ClientSession) -> None:
    async with DfspServer("payer") as payer:
        await add_participant(running.hub.db, "payer", fsp_endpoints(payer.url))
        await put(running.hub.db, transfer_put("t-metrics"))
        running.hub.notify_outbox()
        await payer.next_request(method="PUT", path="/transfers/t-metrics")
    async with http.get(f"{running.admin_url}/metrics") as resp:
        text = await resp.text()
    assert 'mojahub_callback_attempts_total{outcome="delivered"}' in text
    assert "mojahub_callback_latency_seconds_bucket" in text
    assert "mojahub_outbox_backlog" in text
