"""The loopback DFSP used by the lookup/quotes (and other) end-to-end tests records and matches."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.support.dfsp import DfspServer, ReceivedRequest


async def test_dfsp_records_requests_and_answers_fspiop_acknowledgements() -> None:
    async with DfspServer("payee") as dfsp, aiohttp.ClientSession() as http:
        async with http.post(f"{dfsp.url}/quotes", data=b'{"a":1}', headers={"X-Test": "1"}) as r:
            assert r.status == 202
        async with http.put(f"{dfsp.url}/quotes/1", data=b"{}") as r:
            assert r.status == 200
        first = await dfsp.next_request(method="POST", path="/quotes", timeout=1)
        assert first.body == b'{"a":1}'
        assert first.header("x-test") == "1"
        assert first.json() == {"a": 1}
        second = await dfsp.next_request(path_prefix="/quotes/", timeout=1)
        assert second.method == "PUT"


async def test_dfsp_waits_for_a_later_request_and_hands_each_out_once() -> None:
    async with DfspServer("payer") as dfsp, aiohttp.ClientSession() as http:
        async def later() -> None:
            await asyncio.sleep(0.1)
            async with http.get(f"{dfsp.url}/parties/MSISDN/1?x=1"):
                pass

        task = asyncio.create_task(later())
        got = await dfsp.next_request(method="GET", where=lambda r: r.query == "x=1", timeout=3)
        await task
        assert got.path == "/parties/MSISDN/1"
        with pytest.raises(AssertionError, match="no request matching"):
            await dfsp.next_request(method="GET", timeout=0.2)
        await dfsp.assert_no_request(within=0.1)


async def test_dfsp_custom_responder_and_unexpected_request_detection() -> None:
    def responder(req: ReceivedRequest) -> tuple[int, bytes, dict[str, str]]:
        return 500, b"boom", {"Content-Type": "text/plain"}

    async with DfspServer("dead", responder=responder) as dfsp, aiohttp.ClientSession() as http:
        async with http.post(f"{dfsp.url}/transfers", data=b"{}") as r:
            assert r.status == 500
            assert await r.text() == "boom"
        with pytest.raises(AssertionError, match="unexpected request"):
            await dfsp.assert_no_request(path="/transfers", within=0.1)
