"""A lean asyncio HTTP/1.1 client for callback delivery (``http://`` only).

The dispatcher sends small FSPIOP callbacks (PUT/POST/PATCH with a JSON body, answered 200/202
with an empty or tiny body). This client does only what that needs, on ``asyncio.Protocol``
(plain asyncio or uvloop) with ``httptools`` parsing the responses:

* a bounded keep-alive pool per (host, port): at most ``max_per_origin`` connections (busy, idle
  or connecting); idle ones are reused last-in first-out and closed after ``idle_timeout_s``;
  requests beyond the bound wait for a connection to come back;
* a request is one prebuilt buffer and one ``transport.write``: request line, ``Host``,
  ``Content-Length`` (when there is a body, or for POST/PUT/PATCH), the caller's headers, the
  body. Nothing else is added (no ``Accept``, ``User-Agent``, ``Accept-Encoding``). The client
  frames the body itself, so a caller's ``Content-Length``/``Transfer-Encoding`` is ignored; a
  caller's ``Host`` replaces the URL's. A header name that is not an HTTP token or a value with
  CR, LF or NUL raises ``InvalidRequest`` (a ``ValueError``): no header or request-line injection.
  Characters the URL may not carry in a request target are percent-encoded;
* the response body is read fully (Content-Length, chunked, or until the server closes) and
  bounded (``max_body``, 1 MiB by default; more is a ``ResponseTooLarge`` error);
* one overall deadline per request (waiting for a pooled connection, connecting, writing,
  reading); a timeout raises ``TimeoutError`` and closes the connection. Any error or
  cancellation while a request is on a connection closes it: only a connection that finished a
  complete response cleanly goes back to the pool;
* ``Connection: close`` (either side) or an HTTP/1.0 answer: the connection is not reused;
* a reused idle connection that turns out closed by the server (EOF or reset before any byte of
  the response) is retried once on a fresh connection: the server had closed the idle socket, so
  the request never reached its application. There is no retry after any response byte arrived,
  nor for a fresh connection.

Errors: ``TimeoutError``; ``Http1Error`` (an ``OSError``) and its subclasses for network and
protocol failures; ``InvalidRequest``/``InvalidURL`` (``ValueError``) for requests that cannot be
sent as given.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, cast
from urllib.parse import unquote

import httptools

DEFAULT_MAX_BODY: Final = 1 << 20
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_AUTHORITY_END: Final = re.compile(r"[/?#]")
# Anything a request target may not carry as is (RFC 3986 pchar, "/", "?"), and a "%" that does
# not start an escape: both are percent-encoded (as UTF-8).
_TARGET_UNSAFE: Final = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]|%(?![0-9A-Fa-f]{2})")
_REG_NAME: Final = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=%]+")
_CACHE_MAX: Final = 1024


class Http1Error(OSError):
    """The request failed on the network or the server's answer was unusable."""


class ConnectError(Http1Error):
    """No connection could be opened (refused, unreachable, name not resolved)."""


class ServerDisconnected(Http1Error):
    """The connection was closed or reset before the response was complete."""


class MalformedResponse(Http1Error):
    """The server's answer is not valid HTTP/1.x."""


class ResponseTooLarge(Http1Error):
    """The response body is larger than the client accepts."""


class ClientClosed(Http1Error):
    """The client was closed."""


class InvalidRequest(ValueError):
    """The request cannot be sent as given (bad method, header name or value)."""


class InvalidURL(InvalidRequest):
    """The URL is not a usable ``http://`` URL."""


class _Stale(Exception):
    """A reused connection was closed by the server before any byte of the response."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes


@dataclass(slots=True, eq=False)
class _Pool:
    """The connections to one (host, port)."""

    host: str
    port: int
    conns: set[_Connection] = field(default_factory=set)  # open or opening, busy or idle: the bound
    idle: deque[_Connection] = field(default_factory=deque)  # oldest first; reuse takes the newest
    waiters: deque[asyncio.Future[_Connection | None]] = field(default_factory=deque)


@dataclass(frozen=True, slots=True)
class _Origin:
    """What the scheme-and-authority part of a URL resolves to (cached per URL prefix)."""

    pool: _Pool
    host_header: str
    authorization: str | None


class _Connection(asyncio.Protocol):
    """One TCP connection; at most one request on it at a time."""

    def __init__(self, client: Http1Client, pool: _Pool) -> None:
        self.client = client
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False  # closed by us or the peer: never used again
        self.idle = False
        self.idle_since = 0.0
        self.uses = 0  # responses completed on this connection
        self.waiter: asyncio.Future[Response] | None = None
        self.reused = False
        self.head_request = False
        self.keep_alive = False
        self.got_bytes = False
        self._reset_response()

    def _reset_response(self) -> None:
        self.status = 0
        self.chunks: list[bytes] = []
        self.size = 0
        self.headers_done = False
        self.framed = False  # Content-Length or Transfer-Encoding: the body does not end at EOF
        self.conn_close = False
        self.error: Http1Error | None = None

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            self.close()  # bytes nobody asked for: this connection is out of step
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(MalformedResponse("unexpected protocol upgrade in the response"))
        except httptools.HttpParserError as exc:
            if self.error is not None:
                self._fail(self.error)
            elif waiter.done():
                self.close()  # answered already (a HEAD response); nothing more is read
            else:
                self._fail(MalformedResponse(f"malformed HTTP response: {exc}"))

    def eof_received(self) -> bool:
        waiter = self.waiter
        if waiter is not None and not waiter.done() and self.headers_done and not self.framed:
            self._complete(reusable=False)  # a body delimited by the end of the connection
        self._lost(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(exc)

    # --- httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            raise _StopParsing  # a second response to one request

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-length":
            self.framed = True
            if int(value) > self.client.max_body:
                self.error = ResponseTooLarge(
                    f"response body of {int(value)} bytes exceeds the limit of {self.client.max_body}")
                raise _StopParsing
        elif name == b"transfer-encoding":
            self.framed = True
        elif name == b"connection" and b"close" in value.lower():
            self.conn_close = True

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True
        if self.head_request and self.status >= 200:
            self._complete(reusable=False)  # no body follows; not worth tracking the parser state
            raise _StopParsing

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self.client.max_body:
            self.error = ResponseTooLarge(f"response body exceeds the limit of {self.client.max_body} bytes")
            raise _StopParsing
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:
            self._reset_response()  # an interim answer (100 Continue, 103 ...): the real one follows
            return
        parser = self.parser
        self._complete(
            reusable=self.keep_alive and not self.conn_close and parser.should_keep_alive()
            and parser.get_http_version() == "1.1"
        )

    # --- state ------------------------------------------------------------------------------

    def start(self, waiter: asyncio.Future[Response], *, head: bool, keep_alive: bool) -> None:
        self.waiter = waiter
        self.reused = self.uses > 0
        self.head_request = head
        self.keep_alive = keep_alive
        self.got_bytes = False
        self._reset_response()

    def _complete(self, *, reusable: bool) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        chunks = self.chunks
        body = b"" if not chunks else chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.keep_alive = reusable
        waiter.set_result(Response(self.status, body))

    def _fail(self, exc: BaseException) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def _lost(self, exc: Exception | None) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            if self.reused and not self.got_bytes:
                waiter.set_exception(_Stale())
            elif exc is not None:
                waiter.set_exception(ServerDisconnected(f"connection lost: {exc}"))
            elif self.got_bytes:
                waiter.set_exception(ServerDisconnected("server closed the connection in the middle of the response"))
            else:
                waiter.set_exception(ServerDisconnected("server closed the connection without answering"))
        if not self.closed:
            self.closed = True
            self.client._discard(self)

    def timed_out(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(TimeoutError("no complete response in time"))
        self.close()

    def close(self) -> None:
        """Close at once (abort: nothing buffered is worth sending); idempotent."""
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ClientClosed("connection closed by the client"))
        if self.transport is not None:
            self.transport.abort()
        if not self.closed:
            self.closed = True
            self.client._discard(self)


class _StopParsing(Exception):
    """Raised from a parser callback to stop parsing (the reason is on the connection)."""


class Http1Client:
    """Keep-alive HTTP/1.1 client for ``http://`` URLs; see the module docstring."""

    def __init__(
        self,
        *,
        max_per_origin: int = 64,
        idle_timeout_s: float = 30.0,
        connect_timeout_s: float | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        if max_per_origin < 1:
            raise ValueError("max_per_origin must be at least 1")
        self.max_per_origin = max_per_origin
        self.idle_timeout_s = idle_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_body = max_body
        self._pools: dict[tuple[str, int], _Pool] = {}
        self._origins: dict[str, _Origin] = {}
        self._names: set[str] = set()  # header names and methods known to be tokens
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False
        self.connections_opened = 0  # for tests and benchmarks
        self.stale_retries = 0  # requests sent again after a reused connection turned out closed

    # --- public -----------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout_s: float,
    ) -> Response:
        """Send one request and read its whole response (see the module docstring)."""
        if self._closed:
            raise ClientClosed("the HTTP client is closed")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        origin, target = self._split(url)
        data, keep_alive = self._serialize(method, target, origin, headers, body)
        head = method == "HEAD"
        pool = origin.pool
        conn = self._pop_idle(pool, loop.time())
        fresh = False
        while True:
            if conn is None:
                conn = await self._acquire(pool, deadline, fresh=fresh)
            try:
                return await self._exchange(loop, conn, data, deadline, head=head, keep_alive=keep_alive)
            except _Stale:
                # The server closed the idle connection; the request never reached it. Once, on
                # a new connection.
                self.stale_retries += 1
                fresh, conn = True, None

    async def close(self) -> None:
        """Close every connection; requests in progress fail with ``ClientClosed``."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for pool in self._pools.values():
            for waiter in pool.waiters:
                if not waiter.done():
                    waiter.set_exception(ClientClosed("the HTTP client is closed"))
            pool.waiters.clear()
            for conn in list(pool.conns):
                conn.close()
        await asyncio.sleep(0)  # let the transports finish closing

    # --- requests ---------------------------------------------------------------------------

    async def _exchange(
        self,
        loop: asyncio.AbstractEventLoop,
        conn: _Connection,
        data: bytes,
        deadline: float,
        *,
        head: bool,
        keep_alive: bool,
    ) -> Response:
        transport = conn.transport
        if conn.closed or transport is None or transport.is_closing():
            reused = conn.uses > 0
            conn.close()
            if reused:
                raise _Stale
            raise ServerDisconnected("server closed the connection before the request was sent")
        waiter: asyncio.Future[Response] = loop.create_future()
        conn.start(waiter, head=head, keep_alive=keep_alive)
        timer = loop.call_at(deadline, conn.timed_out)
        try:
            transport.write(data)
            response = await waiter
        except BaseException:
            timer.cancel()
            conn.close()
            raise
        timer.cancel()
        conn.uses += 1
        conn.waiter = None
        if conn.keep_alive and not conn.closed:
            self._release(conn, loop.time())
        else:
            conn.close()
        return response

    def _serialize(
        self, method: str, target: str, origin: _Origin, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[bytes, bool]:
        names = self._names
        if method not in names:
            if _TOKEN.fullmatch(method) is None:
                raise InvalidRequest(f"invalid HTTP method {method!r}")
            self._remember(method)
        parts = [method, " ", target, " HTTP/1.1\r\n"]
        host = origin.host_header
        authorization = origin.authorization
        keep_alive = True
        values: list[str] = []
        for name, value in headers.items():
            if name not in names:
                if _TOKEN.fullmatch(name) is None:
                    raise InvalidRequest(f"invalid header name {name!r}")
                self._remember(name)
            value = str(value)
            lower = name.lower()
            if lower == "host":
                host = value
                continue
            if lower == "content-length" or lower == "transfer-encoding":
                continue  # the client frames the body
            if lower == "authorization":
                authorization = None
            elif lower == "connection" and "close" in value.lower():
                keep_alive = False
            parts += (name, ": ", value, "\r\n")
            values.append(value)
        values.append(host)
        joined = "".join(values)
        if "\r" in joined or "\n" in joined or "\x00" in joined:
            raise InvalidRequest("header value contains CR, LF or NUL")
        parts += ("Host: ", host, "\r\n")
        if authorization is not None:
            parts += ("Authorization: ", authorization, "\r\n")
        if body is not None:
            parts += ("Content-Length: ", str(len(body)), "\r\n\r\n")
            return "".join(parts).encode() + body, keep_alive
        if method in _BODY_METHODS:
            parts.append("Content-Length: 0\r\n")
        parts.append("\r\n")
        return "".join(parts).encode(), keep_alive

    def _remember(self, name: str) -> None:
        if len(self._names) >= _CACHE_MAX:
            self._names.clear()
        self._names.add(name)

    # --- URLs -------------------------------------------------------------------------------

    def _split(self, url: str) -> tuple[_Origin, str]:
        """The origin (cached per ``http://authority`` prefix) and the request target."""
        if not url.startswith("http://"):
            raise InvalidURL(f"{url[:200]!r}: not an http:// URL")
        end = _AUTHORITY_END.search(url, 7)
        if end is None:
            prefix, target = url, "/"
        else:
            prefix, target = url[: end.start()], url[end.start():]
            if "#" in target:
                target = target.partition("#")[0]
            if not target.startswith("/"):
                target = "/" + target
        origin = self._origins.get(prefix)
        if origin is None:
            origin = self._origin(prefix)
        if _TARGET_UNSAFE.search(target) is not None:
            target = _TARGET_UNSAFE.sub(_percent_encode, target)
        return origin, target

    def _origin(self, prefix: str) -> _Origin:
        authority = prefix[7:]
        userinfo, at, hostport = authority.rpartition("@")
        if hostport.startswith("["):
            close = hostport.find("]")
            if close < 0:
                raise InvalidURL(f"{prefix!r}: unterminated IPv6 address")
            host, rest = hostport[1:close], hostport[close + 1:]
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise InvalidURL(f"{prefix!r}: bad IPv6 address") from None
            if rest and not rest.startswith(":"):
                raise InvalidURL(f"{prefix!r}: bad authority")
            port_text = rest[1:]
            host_text = f"[{host}]"
        else:
            host, _, port_text = hostport.partition(":")
            if not host.isascii():
                try:
                    host = host.encode("idna").decode("ascii")
                except UnicodeError:
                    raise InvalidURL(f"{prefix!r}: bad host name") from None
            host = host.lower()
            if not host or _REG_NAME.fullmatch(host) is None:
                raise InvalidURL(f"{prefix!r}: bad or missing host")
            host_text = host
        if port_text:
            if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
                raise InvalidURL(f"{prefix!r}: bad port")
            port = int(port_text)
        else:
            port = 80
        authorization = None
        if at:
            user, _, password = userinfo.partition(":")
            credentials = f"{unquote(user)}:{unquote(password)}".encode()
            authorization = "Basic " + base64.b64encode(credentials).decode("ascii")
        key = (host, port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool(host, port)
        origin = _Origin(pool, host_text if port == 80 else f"{host_text}:{port}", authorization)
        if len(self._origins) >= _CACHE_MAX:
            self._origins.clear()
        self._origins[prefix] = origin
        return origin

    # --- the pool ---------------------------------------------------------------------------

    def _pop_idle(self, pool: _Pool, now: float) -> _Connection | None:
        idle = pool.idle
        while idle:
            conn = idle.pop()
            conn.idle = False
            transport = conn.transport
            if transport is None or transport.is_closing() or now - conn.idle_since > self.idle_timeout_s:
                conn.close()
                continue
            return conn
        return None

    async def _acquire(self, pool: _Pool, deadline: float, *, fresh: bool) -> _Connection:
        """A connection when none was idle: a new one within the bound, else the next one given
        back. ``fresh``: a new connection, never an idle one (an idle one is closed for room)."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout_at(deadline):
            while True:
                if self._closed:
                    raise ClientClosed("the HTTP client is closed")
                if not fresh:
                    conn = self._pop_idle(pool, loop.time())
                    if conn is not None:
                        return conn
                elif len(pool.conns) >= self.max_per_origin and pool.idle:
                    pool.idle[0].close()  # the oldest idle connection makes room
                if len(pool.conns) < self.max_per_origin:
                    return await self._connect(loop, pool)
                waiter: asyncio.Future[_Connection | None] = loop.create_future()
                pool.waiters.append(waiter)
                try:
                    given = await waiter
                except BaseException:
                    if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                        handed = waiter.result()  # handed to us just as we were cancelled: pass on
                        if handed is not None:
                            self._release(handed, loop.time())
                        else:
                            self._wake(pool)
                    else:
                        waiter.cancel()
                    raise
                if given is not None:
                    if not fresh:
                        return given
                    given.close()

    async def _connect(self, loop: asyncio.AbstractEventLoop, pool: _Pool) -> _Connection:
        conn = _Connection(self, pool)
        pool.conns.add(conn)  # the slot is taken from now on; ``close`` gives it back
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                await loop.create_connection(lambda: conn, pool.host, pool.port)
        except TimeoutError:
            conn.close()
            raise TimeoutError(f"connecting to {pool.host}:{pool.port} timed out") from None
        except OSError as exc:
            conn.close()
            raise ConnectError(f"cannot connect to {pool.host}:{pool.port}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        self.connections_opened += 1
        if self._closed:
            conn.close()
            raise ClientClosed("the HTTP client is closed")
        return conn

    def _release(self, conn: _Connection, now: float) -> None:
        """A connection that finished a response cleanly: to a waiting request, else idle."""
        pool = conn.pool
        while pool.waiters:
            waiter = pool.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.idle = True
        conn.idle_since = now
        pool.idle.append(conn)
        if self._sweeper is None and not self._closed:
            self._sweeper = asyncio.get_running_loop().call_later(self.idle_timeout_s, self._sweep)

    def _discard(self, conn: _Connection) -> None:
        """Called once per connection when it closes: its slot is free."""
        pool = conn.pool
        pool.conns.discard(conn)
        if conn.idle:
            conn.idle = False
            pool.idle.remove(conn)
        self._wake(pool)

    def _wake(self, pool: _Pool) -> None:
        """Tell one waiting request that a slot is free (it opens a connection)."""
        while pool.waiters:
            waiter = pool.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _sweep(self) -> None:
        """Close connections idle longer than ``idle_timeout_s``; runs while any are idle."""
        self._sweeper = None
        loop = asyncio.get_running_loop()
        oldest = loop.time() - self.idle_timeout_s
        left = False
        for pool in self._pools.values():
            while pool.idle and pool.idle[0].idle_since <= oldest:
                pool.idle[0].close()
            left = left or bool(pool.idle)
        if left and not self._closed:
            self._sweeper = loop.call_later(max(self.idle_timeout_s / 2, 0.01), self._sweep)


def _percent_encode(match: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in match.group().encode())
