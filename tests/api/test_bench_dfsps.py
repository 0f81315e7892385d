"""The benchmark's simulated DFSPs against a loopback stand-in for the hub's FSPIOP API: the
payee answers 202 and fulfils with the fulfilment that matches the quote's condition; the payer
resolves the transfer on the hub's callback and ignores copies meant for the payee."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from bench.dfsps import MAX_BODY, Dfsps, _Connection, transfer_endpoints
from bench.load import LoadGenerator, RunResult, quote_material

from mojahub.kernel import ilp
from tests.support.dfsp import DfspServer

# A simulator that accepts connections but never answers must fail a test, not hang it.
TIMEOUT = aiohttp.ClientTimeout(total=10)


@pytest.fixture(scope="module", params=["asyncio", "uvloop"])
def event_loop_policy(request: pytest.FixtureRequest) -> asyncio.AbstractEventLoopPolicy:
    """Every test here runs on both loops: ``python -m bench`` installs uvloop, the rest of the
    suite runs on asyncio (uvloop's transports are not asyncio.Transport subclasses)."""
    if request.param == "uvloop":
        import uvloop

        return uvloop.EventLoopPolicy()
    return asyncio.DefaultEventLoopPolicy()


async def test_payee_answers_202_then_fulfils_with_the_matching_fulfilment() -> None:
    async with DfspServer("hub") as hub, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        sims = await Dfsps(hub.url, session).start()
        try:
            material = quote_material("payerfsp", "payeefsp", "10", "USD")
            prepare = {"transferId": "t-1", "payerFsp": "payerfsp", "payeeFsp": "payeefsp",
                       "amount": {"amount": "10", "currency": "USD"}, "ilpPacket": material.packet,
                       "condition": material.condition, "expiration": "2099-01-01T00:00:00.000Z"}
            post_url = transfer_endpoints(sims.url, "payeefsp")["FSPIOP_CALLBACK_URL_TRANSFER_POST"]
            async with session.post(post_url, data=orjson.dumps(prepare)) as resp:
                assert resp.status == 202
            fulfil = await hub.next_request(method="PUT", path="/transfers/t-1", timeout=5)
        finally:
            await sims.stop()
    body = fulfil.json()
    assert body["transferState"] == "COMMITTED"
    assert ilp.fulfilment_matches(body["fulfilment"], material.condition)
    assert fulfil.header("FSPIOP-Source") == "payeefsp"
    assert fulfil.header("FSPIOP-Destination") == "payerfsp"
    assert fulfil.header("Content-Type") == "application/vnd.interoperability.transfers+json;version=1.1"
    assert fulfil.header("Accept") is None


async def test_a_malformed_prepare_is_refused_with_400() -> None:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        sims = await Dfsps("http://127.0.0.1:9", session).start()
        try:
            async with session.post(f"{sims.url}/payeefsp/transfers", data=b"{not json") as resp:
                assert resp.status == 400
        finally:
            await sims.stop()
    assert sum(sims.counters.unexpected.values()) == 1


async def test_generator_completes_a_transfer_when_the_payer_hears_committed() -> None:
    """A stand-in hub that plays the whole flow: 202 to the payer, forwards the prepare to the
    payee's endpoint, and on the payee's fulfil sends PUT to the payee (a copy, to be ignored)
    and then to the payer."""
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        sims_holder: list[Dfsps] = []

        async def hub_responder(req):  # type: ignore[no-untyped-def]
            sims = sims_holder[0]
            if req.method == "POST":
                body = req.json()
                asyncio.get_running_loop().create_task(
                    session.post(f"{sims.url}/{body['payeeFsp']}/transfers", data=req.body).__aenter__()
                )
                return 202, None, None
            transfer_id = req.path.rsplit("/", 1)[1]
            note = orjson.dumps({"transferState": "COMMITTED", "completedTimestamp": "2099-01-01T00:00:00.000Z"})
            for fsp in (req.header("FSPIOP-Source"), req.header("FSPIOP-Destination")):
                async with session.put(f"{sims.url}/{fsp}/transfers/{transfer_id}", data=note) as resp:
                    assert resp.status == 200
            return 200, None, None

        async with DfspServer("hub", responder=hub_responder) as hub:
            sims = await Dfsps(hub.url, session).start()
            sims_holder.append(sims)
            try:
                generator = LoadGenerator(hub.url, sims, session, transfer_timeout_s=5)
                result = RunResult()
                for _ in range(3):
                    await generator.transfer("payerfsp", "payeefsp", result)
            finally:
                await sims.stop()
            post = await hub.next_request(method="POST", path="/transfers", timeout=1)
    assert (result.sent, result.completed, result.failed) == (3, 3, 0)
    assert all(latency > 0 for latency in result.latencies_s)
    assert sims.counters.notifications == 3  # the payee's copies, not mistaken for the payer's answers
    # This stand-in answers the fulfil only after calling the payer back, so no fulfil_200 sample.
    assert {k: len(v) for k, v in result.phases.items()} == {
        "post_202": 3, "to_payee": 3, "fulfil_200": 0, "fulfil_to_payer": 3}
    # The generator's sends (POSTs and fulfil PUTs) go through the simulator's keep-alive client:
    # at most the POST and a fulfil PUT overlap, so two connections for the six requests.
    assert sims.client.connections_opened <= 2
    assert post.header("Accept") == "application/vnd.interoperability.transfers+json;version=1"
    assert post.header("FSPIOP-Source") == "payerfsp"
    assert post.header("User-Agent") is None


async def test_a_post_the_hub_never_receives_is_a_failure_not_a_pending_transfer() -> None:
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        hub_url = f"http://127.0.0.1:{closed_port}"
        sims = await Dfsps(hub_url, session).start()
        try:
            result = RunResult()
            await LoadGenerator(hub_url, sims, session, transfer_timeout_s=5).transfer("payerfsp", "payeefsp", result)
        finally:
            await sims.stop()
    assert (result.sent, result.completed) == (1, 0)
    assert result.failures == {"POST failed: ConnectError": 1}
    assert not sims.pending


# -- the simulator's own HTTP/1.1 server, over raw sockets -----------------------------------------


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """One response head (every answer of the simulator has an empty body)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status_line, *lines = head.decode().rstrip("\r\n").split("\r\n")
    version, status, _reason = status_line.split(" ", 2)
    assert version == "HTTP/1.1"
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    assert headers["content-length"] == "0"
    return int(status), headers


def _request(method: str, path: str, body: bytes = b"", *, extra: str = "") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: sim\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


@contextlib.asynccontextmanager
async def _standalone_sims() -> AsyncIterator[Dfsps]:
    """The simulated DFSPs alone (no hub behind them), stopped afterwards."""
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        sims = await Dfsps("http://127.0.0.1:9", session).start()
        try:
            yield sims
        finally:
            await sims.stop()


async def _raw_connection(sims: Dfsps) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", sims.port)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


COMMITTED = orjson.dumps({"transferState": "COMMITTED", "completedTimestamp": "2099-01-01T00:00:00.000Z"})


async def test_one_keep_alive_connection_carries_several_requests_in_order() -> None:
    async with _standalone_sims() as sims:
        futures = [sims.expect(f"t-{i}", "payerfsp") for i in range(5)]
        reader, writer = await _raw_connection(sims)
        for i in range(5):
            writer.write(_request("PUT", f"/payerfsp/transfers/t-{i}", COMMITTED))
            assert (await _read_answer(reader))[0] == 200
            assert futures[i].done()
            assert futures[i].result().ok
        writer.write(_request("PATCH", "/payerfsp/transfers/t-0", b"{}"))
        assert (await _read_answer(reader))[0] == 200
        # Pipelined (not needed by the hub, but answered in order since handlers are synchronous).
        writer.write(_request("PUT", "/payeefsp/transfers/t-0", COMMITTED) + _request("GET", "/x/transfers"))
        assert [(await _read_answer(reader))[0] for _ in range(2)] == [200, 405]
        assert len(sims._connections) == 1
        await _close(writer)
    assert sims.counters.notifications == 2  # the PATCH and the payee's copy
    assert not sims.pending


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/payeefsp/transfers/", 404),
        ("POST", "/payeefsp/quotes", 404),
        ("POST", "/transfers", 404),
        ("POST", "//transfers", 404),
        ("PUT", "/", 404),
        ("PUT", "/payerfsp/transfers/t-1/errors", 404),
        ("PUT", "/payerfsp/transfers/t-1/error/more", 404),
        ("PUT", "/payerfsp/transfers//error", 404),
        ("GET", "/payerfsp/transfers/t-1", 405),
        ("POST", "/payerfsp/transfers/t-1", 405),
        ("PATCH", "/payerfsp/transfers/t-1/error", 405),
        ("PUT", "/payeefsp/transfers", 405),
        ("PUT", "/payerfsp/transfers/t-1?x=1", 200),  # the query is ignored
        ("PUT", "/payerfsp/transfers/t%2D1", 200),  # percent-decoded like a web framework's match
    ],
)
async def test_routes(method: str, path: str, status: int) -> None:
    async with _standalone_sims() as sims:
        fut = sims.expect("t-1", "payerfsp")
        reader, writer = await _raw_connection(sims)
        writer.write(_request(method, path, COMMITTED))
        assert (await _read_answer(reader))[0] == status
        # A refused route does not cost the connection.
        writer.write(_request("PATCH", "/payerfsp/transfers/t-9", b"{}"))
        assert (await _read_answer(reader))[0] == 200
        await _close(writer)
    assert fut.done() == (status == 200)


async def test_a_body_split_across_tcp_segments_is_reassembled(monkeypatch: pytest.MonkeyPatch) -> None:
    segments: list[int] = []
    feed = _Connection.data_received

    def counting(self: _Connection, data: bytes) -> None:
        segments.append(len(data))
        feed(self, data)

    monkeypatch.setattr(_Connection, "data_received", counting)
    async with _standalone_sims() as sims:
        fut = sims.expect("t-1", "payerfsp")
        error = orjson.dumps({"errorInformation": {"errorCode": "3100", "errorDescription": "x" * 5000}})
        raw = _request("PUT", "/payerfsp/transfers/t-1/error", error)
        reader, writer = await _raw_connection(sims)
        # Split inside the request line, inside the headers and (many times) inside the body.
        cuts = [0, 5, 30, len(raw) - len(error) - 1, *range(len(raw) - len(error) + 7, len(raw), 997), len(raw)]
        for a, b in itertools.pairwise(cuts):
            writer.write(raw[a:b])
            await writer.drain()
            await asyncio.sleep(0.005)
            assert not fut.done() or b == len(raw)
        assert (await _read_answer(reader))[0] == 200
        await _close(writer)
    outcome = fut.result()
    assert not outcome.ok
    assert outcome.detail == "3100 " + "x" * 5000
    assert sims.counters.errors_received == 1
    assert len(segments) >= 5  # the server really did see the request in pieces


async def test_a_chunked_body_is_read_too() -> None:
    async with _standalone_sims() as sims:
        fut = sims.expect("t-1", "payerfsp")
        reader, writer = await _raw_connection(sims)
        half = len(COMMITTED) // 2
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (COMMITTED[:half], COMMITTED[half:]))
        chunks += b"0\r\n\r\n"
        writer.write(b"PUT /payerfsp/transfers/t-1 HTTP/1.1\r\nHost: sim\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(chunks)
        assert (await _read_answer(reader))[0] == 200
        await _close(writer)
    assert fut.result().ok


async def test_http10_and_connection_close_get_their_answer_then_the_connection_closes() -> None:
    async with _standalone_sims() as sims:
        for raw in (
            b"PATCH /payerfsp/transfers/t-1 HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}",
            _request("PATCH", "/payerfsp/transfers/t-1", b"{}", extra="Connection: close\r\n"),
        ):
            reader, writer = await _raw_connection(sims)
            writer.write(raw)
            status, headers = await _read_answer(reader)
            assert (status, headers.get("connection")) == (200, "close")
            assert await asyncio.wait_for(reader.read(), 5) == b""  # EOF from the server
            await _close(writer)
    assert sims.counters.notifications == 2


async def test_garbage_gets_400_and_a_closed_connection() -> None:
    async with _standalone_sims() as sims:
        reader, writer = await _raw_connection(sims)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        status, headers = await _read_answer(reader)
        assert (status, headers.get("connection")) == (400, "close")
        assert await asyncio.wait_for(reader.read(), 5) == b""
        await _close(writer)
    assert sims.counters.unexpected == {"malformed HTTP request": 1}


async def test_a_body_over_the_limit_is_refused_413_and_the_connection_closed() -> None:
    async with _standalone_sims() as sims:
        reader, writer = await _raw_connection(sims)
        body = b"x" * (MAX_BODY + 1)
        writer.write(_request("PUT", "/payerfsp/transfers/t-1", body))
        status, headers = await _read_answer(reader)
        assert (status, headers.get("connection")) == (413, "close")
        # Closed with the rest of the upload unread: EOF or, as the kernel may answer, a reset.
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    assert sims.counters.notifications == 0


async def test_a_handler_failure_is_a_500_and_counted() -> None:
    async with _standalone_sims() as sims:
        reader, writer = await _raw_connection(sims)
        writer.write(_request("PUT", "/payerfsp/transfers/t-1", b"[not json"))
        assert (await _read_answer(reader))[0] == 500
        writer.write(_request("PATCH", "/payerfsp/transfers/t-1", b"{}"))
        assert (await _read_answer(reader))[0] == 200
        await _close(writer)
    [reason] = sims.counters.unexpected
    assert reason.startswith("handler error: JSONDecodeError")


async def test_stop_closes_idle_keep_alive_connections() -> None:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        sims = await Dfsps("http://127.0.0.1:9", session).start()
        reader, writer = await _raw_connection(sims)
        writer.write(_request("PATCH", "/payerfsp/transfers/t-1", b"{}"))
        assert (await _read_answer(reader))[0] == 200
        await asyncio.wait_for(sims.stop(), 5)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert not sims._connections
        await _close(writer)
