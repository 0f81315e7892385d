"""The callback HTTP/1.1 client against real loopback servers (raw asyncio servers, so every byte
and every close is under the test's control), on plain asyncio and on uvloop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import uvloop

from mojahub.callbacks.http1 import (
    ConnectError,
    Http1Client,
    Http1Error,
    InvalidRequest,
    InvalidURL,
    ResponseTooLarge,
    ServerDisconnected,
)

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


@pytest.fixture(params=["asyncio", "uvloop"])
def event_loop_policy(request: pytest.FixtureRequest) -> asyncio.AbstractEventLoopPolicy:
    if request.param == "uvloop":
        return uvloop.EventLoopPolicy()
    return asyncio.DefaultEventLoopPolicy()


@dataclass
class Received:
    conn_no: int
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class Reply:
    data: bytes = OK
    close: bool = False  # close the connection after writing ``data``


# What the server does with a request: a reply, or None to close the connection without answering.
Handler = Callable[[Received], Awaitable[Reply | None] | Reply | None]


@dataclass
class RawServer:
    """An HTTP/1.1 server on 127.0.0.1 that records requests and connections."""

    handler: Handler = field(default=lambda _r: Reply())
    requests: list[Received] = field(default_factory=list)
    connections: int = 0
    open_now: int = 0
    open_max: int = 0
    closed_by_client: int = 0
    _idle: dict[int, asyncio.StreamWriter] = field(default_factory=dict)
    _server: asyncio.Server | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn_no = self.connections
        self.open_now += 1
        self.open_max = max(self.open_max, self.open_now)
        try:
            for _ in range(10_000):
                self._idle[conn_no] = writer
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.closed_by_client += 1
                    return
                self._idle.pop(conn_no, None)
                line, *lines = head.decode().split("\r\n")[:-2]
                method, target, _version = line.split(" ")
                headers = [(k, v.strip()) for k, _, v in (h.partition(":") for h in lines)]
                length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
                body = await reader.readexactly(length)
                received = Received(conn_no, method, target, headers, body)
                self.requests.append(received)
                reply = self.handler(received)
                if asyncio.iscoroutine(reply):
                    reply = await reply
                if reply is None:
                    return
                assert isinstance(reply, Reply)
                writer.write(reply.data)
                await writer.drain()
                if reply.close:
                    return
        except ConnectionError:
            pass
        finally:
            self._idle.pop(conn_no, None)
            self.open_now -= 1
            writer.transport.abort()

    def abort_idle(self) -> None:
        """Close, at once, every connection waiting for its next request."""
        for writer in list(self._idle.values()):
            writer.transport.abort()
        self._idle.clear()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._idle.values()):
            writer.transport.abort()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2)


@contextlib.asynccontextmanager
async def client(**kw: object) -> AsyncIterator[Http1Client]:
    c = Http1Client(**kw)  # type: ignore[arg-type]
    try:
        yield c
    finally:
        await c.close()


async def put(c: Http1Client, url: str, body: bytes | None = b'{"a":1}', **headers: str) -> int:
    r = await c.request("PUT", url, headers={"Content-Type": "application/json", **headers}, body=body,
                        timeout_s=5)
    return r.status


def _holding(target: str, gate: asyncio.Event) -> Callable[[Received], Awaitable[Reply]]:
    """A handler that answers ``target`` only once ``gate`` is set (everything else at once)."""

    async def hold(r: Received) -> Reply:
        if r.target == target:
            await gate.wait()
        return Reply()

    return hold


async def test_keep_alive_reuses_one_connection_for_sequential_requests() -> None:
    async with RawServer() as server, client() as c:
        for i in range(20):
            assert await put(c, f"{server.url}/transfers/{i}") == 200
    assert server.connections == 1
    assert c.connections_opened == 1
    assert [r.target for r in server.requests] == [f"/transfers/{i}" for i in range(20)]
    assert all(r.body == b'{"a":1}' for r in server.requests)


async def test_request_bytes_have_no_default_accept_or_user_agent() -> None:
    async with RawServer() as server, client() as c:
        await c.request("PUT", server.url + "/transfers/1", headers={
            "Content-Type": "application/vnd.interoperability.transfers+json;version=1.1",
            "FSPIOP-Source": "Hub", "Content-Length": "999",  # the client frames the body itself
        }, body=b"{}", timeout_s=5)
        await c.request("GET", server.url + "/parties/MSISDN/1", headers={"Accept": "application/x"},
                        body=None, timeout_s=5)
        await c.request("POST", server.url, headers={}, body=None, timeout_s=5)
    put_, get, post = server.requests
    assert sorted(k.lower() for k, _ in put_.headers) == ["content-length", "content-type", "fspiop-source", "host"]
    assert put_.header("Content-Length") == "2"
    assert put_.header("Host") == f"127.0.0.1:{server.port}"
    assert put_.header("Accept") is None
    assert put_.header("User-Agent") is None
    assert sorted(k.lower() for k, _ in get.headers) == ["accept", "host"]  # GET without body: no length
    assert get.header("Accept") == "application/x"
    assert (post.target, post.header("Content-Length")) == ("/", "0")


async def test_pool_is_bounded_per_origin_and_requests_wait_for_a_connection() -> None:
    async def slow(_r: Received) -> Reply:
        await asyncio.sleep(0.05)
        return Reply()

    async with RawServer(slow) as server, client(max_per_origin=2) as c:
        statuses = await asyncio.gather(*(put(c, f"{server.url}/t/{i}") for i in range(8)))
    assert statuses == [200] * 8
    assert server.open_max == 2
    assert server.connections == 2
    assert len(server.requests) == 8


async def test_waiting_for_a_pooled_connection_counts_against_the_timeout() -> None:
    gate = asyncio.Event()
    async with RawServer(_holding("/held", gate)) as server, client(max_per_origin=1) as c:
        held = asyncio.create_task(put(c, server.url + "/held"))
        await asyncio.sleep(0.05)
        with pytest.raises(TimeoutError):
            await c.request("PUT", server.url + "/queued", headers={}, body=b"x", timeout_s=0.1)
        gate.set()
        assert await held == 200
        assert await put(c, server.url + "/after") == 200
    assert [r.target for r in server.requests] == ["/held", "/after"]
    assert server.connections == 1


async def test_concurrent_requests_get_their_own_answers() -> None:
    async def echo(r: Received) -> Reply:
        await asyncio.sleep(0.001 * (len(r.target) % 5))
        body = r.target.encode() + b"|" + r.body
        return Reply(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    async with RawServer(echo) as server, client(max_per_origin=8) as c:
        async def one(i: int) -> bytes:
            r = await c.request("POST", f"{server.url}/q/{i}", headers={}, body=b"%d" % i, timeout_s=5)
            return r.body

        bodies = await asyncio.gather(*(one(i) for i in range(60)))
    assert bodies == [b"/q/%d|%d" % (i, i) for i in range(60)]
    assert server.open_max <= 8


async def test_connection_close_from_the_server_is_honoured() -> None:
    closing = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    async with RawServer(lambda _r: Reply(closing, close=True)) as server, client() as c:
        for i in range(3):
            assert await put(c, f"{server.url}/t/{i}") == 202
    assert server.connections == 3
    assert c.connections_opened == 3


async def test_http_1_0_answer_is_not_reused_even_if_the_server_keeps_the_socket() -> None:
    old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
    async with RawServer(lambda _r: Reply(old)) as server, client() as c:
        assert await put(c, server.url + "/a") == 200
        assert await put(c, server.url + "/b") == 200
    assert server.connections == 2


async def test_connection_close_from_the_caller_is_honoured() -> None:
    async with RawServer() as server, client() as c:
        assert await put(c, server.url + "/a", Connection="close") == 200
        assert await put(c, server.url + "/b") == 200
    assert server.connections == 2


async def test_chunked_response_is_read_fully_and_the_connection_reused() -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    async with RawServer(lambda _r: Reply(chunked)) as server, client() as c:
        r1 = await c.request("PUT", server.url + "/1", headers={}, body=b"x", timeout_s=5)
        r2 = await c.request("PUT", server.url + "/2", headers={}, body=b"x", timeout_s=5)
    assert (r1.status, r1.body) == (200, b"hello world")
    assert r2.body == b"hello world"
    assert server.connections == 1


async def test_interim_answer_and_body_until_close() -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nuntil the end"
    async with RawServer(lambda _r: Reply(answer, close=True)) as server, client() as c:
        r = await c.request("PUT", server.url + "/1", headers={}, body=b"x", timeout_s=5)
        assert (r.status, r.body) == (200, b"until the end")
        assert await put(c, server.url + "/2") == 200
    assert server.connections == 2


async def test_large_body_is_rejected_and_the_connection_dropped() -> None:
    big = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (2 << 20) + b"x" * (2 << 20)
    chunk = b"400\r\n" + b"y" * 1024 + b"\r\n"
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 3 + b"0\r\n\r\n"
    answers = iter([Reply(big), Reply(chunked), Reply()])
    async with RawServer(lambda _r: next(answers)) as server:
        async with client() as c:
            with pytest.raises(ResponseTooLarge):
                await put(c, server.url + "/declared")
        async with client(max_body=2048) as c:
            with pytest.raises(ResponseTooLarge):
                await put(c, server.url + "/chunked")
            assert await put(c, server.url + "/small") == 200
    assert server.connections == 3  # the connection after the rejected body was not reused


async def test_timeout_closes_the_connection() -> None:
    gate = asyncio.Event()

    async def first_hangs(r: Received) -> Reply:
        if r.target == "/slow":
            await gate.wait()
        return Reply()

    async with RawServer(first_hangs) as server, client() as c:
        with pytest.raises(TimeoutError):
            await c.request("PUT", server.url + "/slow", headers={}, body=b"x", timeout_s=0.2)
        gate.set()  # the late answer must not be taken for the next request's
        assert await put(c, server.url + "/next") == 200
        for _ in range(100):
            if server.closed_by_client or server.open_now == 1:
                break
            await asyncio.sleep(0.01)
    assert server.connections == 2
    assert [r.conn_no for r in server.requests] == [1, 2]


async def test_server_closing_an_idle_connection_is_retried_once_on_a_fresh_one() -> None:
    async with RawServer() as server, client() as c:
        assert await put(c, server.url + "/1") == 200
        server.abort_idle()  # the server drops the idle socket just as the next request is written
        assert await put(c, server.url + "/2") == 200
        assert c.stale_retries == 1
        server.abort_idle()
        await asyncio.sleep(0.05)  # this time the client sees the close before the next request
        assert await put(c, server.url + "/3") == 200
        assert c.stale_retries == 1  # a connection known to be closed is not used at all
    assert [(r.conn_no, r.target) for r in server.requests] == [(1, "/1"), (2, "/2"), (3, "/3")]
    assert c.connections_opened == 3


async def test_the_retry_uses_a_new_connection_not_another_idle_one() -> None:
    async def slow(_r: Received) -> Reply:
        await asyncio.sleep(0.02)
        return Reply()

    async with RawServer(slow) as server, client(max_per_origin=3) as c:
        assert await asyncio.gather(*(put(c, f"{server.url}/{i}") for i in range(3))) == [200] * 3
        assert c.connections_opened == 3
        server.abort_idle()  # all three idle connections go stale at once
        assert await put(c, server.url + "/after") == 200
        assert c.stale_retries == 1
    assert server.requests[-1].conn_no == 4


async def test_server_closing_after_reading_the_request_on_a_fresh_connection_is_not_retried() -> None:
    async with RawServer(lambda _r: None) as server, client() as c:
        with pytest.raises(ServerDisconnected):
            await put(c, server.url + "/1")
        await asyncio.sleep(0.05)
    assert len(server.requests) == 1


async def test_no_retry_once_any_response_byte_arrived() -> None:
    answers = iter([Reply(), Reply(b"HTTP/1.1 200 OK\r\nContent-Le", close=True)])
    async with RawServer(lambda _r: next(answers, None)) as server, client() as c:
        assert await put(c, server.url + "/1") == 200
        with pytest.raises(ServerDisconnected):
            await put(c, server.url + "/2")  # a reused connection, but the answer had begun
        await asyncio.sleep(0.05)
    assert [r.target for r in server.requests] == ["/1", "/2"]
    assert c.stale_retries == 0


async def test_a_reused_connection_closed_without_an_answer_is_retried_exactly_once() -> None:
    # Indistinguishable from a stale idle connection: one retry, on a fresh connection, and no more.
    answers = iter([Reply()])
    async with RawServer(lambda _r: next(answers, None)) as server, client() as c:
        assert await put(c, server.url + "/1") == 200
        with pytest.raises(ServerDisconnected):
            await put(c, server.url + "/2")
        await asyncio.sleep(0.05)
    assert [(r.conn_no, r.target) for r in server.requests] == [(1, "/1"), (1, "/2"), (2, "/2")]
    assert c.stale_retries == 1


@pytest.mark.parametrize(("name", "value"), [
    ("X-Test", "a\r\nInjected: 1"),
    ("X-Test", "a\nb"),
    ("X-Test", "a\x00b"),
    ("X Test", "a"),
    ("X-Test:", "a"),
    ("", "a"),
    ("Host", "h\r\nInjected: 1"),
])
async def test_header_injection_is_rejected(name: str, value: str) -> None:
    async with RawServer() as server, client() as c:
        with pytest.raises(InvalidRequest) as info:
            await c.request("PUT", server.url + "/1", headers={name: value}, body=b"x", timeout_s=5)
        assert isinstance(info.value, ValueError)
    assert server.connections == 0


async def test_request_target_cannot_inject_and_bad_methods_are_refused() -> None:
    async with RawServer() as server, client() as c:
        await c.request("PUT", server.url + "/a b\r\nX-Injected: 1/%zz/%41?q=é#frag", headers={}, body=b"x",
                        timeout_s=5)
        with pytest.raises(InvalidRequest):
            await c.request("GET /x", server.url + "/1", headers={}, body=None, timeout_s=5)
    [r] = server.requests
    assert r.target == "/a%20b%0D%0AX-Injected:%201/%25zz/%41?q=%C3%A9"
    assert r.header("X-Injected") is None


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/x", "http://", "http:///x", "http://host:99999/x", "http://host:8o/x",
    "http://[::1/x", "http://ho st/x", "http://[zz]/x",
])
async def test_invalid_urls_are_refused(url: str) -> None:
    async with client() as c:
        with pytest.raises(InvalidURL):
            await c.request("PUT", url, headers={}, body=b"x", timeout_s=5)


async def test_connection_refused_is_an_oserror() -> None:
    async with RawServer() as server:
        url = server.url
    async with client() as c:
        with pytest.raises(ConnectError) as info:
            await put(c, url + "/1")
    assert isinstance(info.value, OSError)
    assert "cannot connect to 127.0.0.1" in str(info.value)


async def test_idle_connections_are_closed_after_the_idle_timeout() -> None:
    async with RawServer() as server, client(idle_timeout_s=0.1) as c:
        assert await put(c, server.url + "/1") == 200
        for _ in range(100):
            if server.closed_by_client:
                break
            await asyncio.sleep(0.02)
        assert server.closed_by_client == 1
        assert await put(c, server.url + "/2") == 200
    assert server.connections == 2


async def test_close_closes_every_connection_and_fails_requests_in_flight() -> None:
    gate = asyncio.Event()
    async with RawServer(_holding("/held", gate)) as server:
        c = Http1Client()
        assert await put(c, server.url + "/1") == 200
        held = asyncio.create_task(put(c, server.url + "/held"))
        await asyncio.sleep(0.05)
        await c.close()
        with pytest.raises(Http1Error):
            await held
        gate.set()
        for _ in range(100):
            if server.open_now == 0:
                break
            await asyncio.sleep(0.02)
        assert server.open_now == 0  # the server saw the connection go
        with pytest.raises(Http1Error):
            await put(c, server.url + "/after")
    assert server.connections == 1


async def test_cancelling_a_request_drops_its_connection() -> None:
    gate = asyncio.Event()
    async with RawServer(_holding("/held", gate)) as server, client(max_per_origin=1) as c:
        held = asyncio.create_task(put(c, server.url + "/held"))
        await asyncio.sleep(0.05)
        held.cancel()
        with pytest.raises(asyncio.CancelledError):
            await held
        gate.set()
        assert await put(c, server.url + "/next") == 200  # the slot came back
    assert server.connections == 2
