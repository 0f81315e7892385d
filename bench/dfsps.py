"""The simulated DFSPs: one loopback HTTP server playing every payer and payee.

Each DFSP's callback endpoints are ``http://127.0.0.1:{port}/{fsp}/transfers...``. As payee it
auto-fulfils: on ``POST /transfers`` it answers 202, regenerates the fulfilment from the ILP
packet (HMAC-SHA256 with the scheme-wide bench secret, FSPIOP §7.1) and sends
``PUT /transfers/{id}`` to the hub. As payer it resolves the waiting transfer when the hub's
``PUT /transfers/{id}`` (or ``/error``) arrives.

The server is deliberately small (it shares the box with the hub it measures): an
``asyncio.Protocol`` per connection feeding ``httptools.HttpRequestParser``, HTTP/1.1
keep-alive, bodies by Content-Length (or chunked, which the parser handles), request headers
not even looked at, handlers run synchronously when a message is complete (so answers go out
in request order), and every answer is a prebuilt status line with ``Content-Length: 0``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast
from urllib.parse import unquote

import aiohttp
import httptools
import orjson

from mojahub.callbacks.http1 import Http1Client
from mojahub.kernel import ilp
from mojahub.kernel.timefmt import format_http_date, format_iso

TRANSFERS_CT = "application/vnd.interoperability.transfers+json;version=1.1"
TRANSFERS_ACCEPT = "application/vnd.interoperability.transfers+json;version=1"
SECRET = b"mojahub-bench-payee-secret-32byt"
MAX_BODY = 1024 * 1024  # as aiohttp's client_max_size was: larger bodies are answered 413
REQUEST_TIMEOUT_S = 30.0  # one request to the hub (connect, send, answer)


def transfer_endpoints(base_url: str, fsp: str) -> dict[str, str]:
    """The FSPIOP transfer callback endpoints of one simulated DFSP."""
    root = f"{base_url}/{fsp}"
    return {
        "FSPIOP_CALLBACK_URL_TRANSFER_POST": f"{root}/transfers",
        "FSPIOP_CALLBACK_URL_TRANSFER_PUT": f"{root}/transfers/{{{{transferId}}}}",
        "FSPIOP_CALLBACK_URL_TRANSFER_ERROR": f"{root}/transfers/{{{{transferId}}}}/error",
    }


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    at: float  # time.perf_counter() when the payer heard the result
    detail: str = ""
    # Payee-side marks (perf_counter): prepare arrived, fulfil PUT sent, fulfil PUT answered
    # (NaN when the hub's 200 came after its callback to the payer).
    payee_marks: tuple[float, float, float] | None = None


@dataclass
class SimCounters:
    prepares_received: int = 0
    fulfils_sent: int = 0
    fulfil_rejected: Counter[str] = field(default_factory=Counter)
    notifications: int = 0
    errors_received: int = 0
    unexpected: Counter[str] = field(default_factory=Counter)


_REASONS = {
    200: "OK", 202: "Accepted", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
    413: "Payload Too Large", 500: "Internal Server Error",
}
_ANSWERS = {
    code: f"HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\n\r\n".encode() for code, reason in _REASONS.items()
}
_CLOSING = {
    code: f"HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
    for code, reason in _REASONS.items()
}


class _Connection(asyncio.Protocol):
    """One keep-alive connection to the simulator. The parser calls back the ``on_*`` methods;
    ``on_message_complete`` routes the request, runs its handler and writes the answer."""

    __slots__ = ("_body", "_closed", "_dfsps", "_parser", "_size", "_transport", "_url")

    def __init__(self, dfsps: Dfsps) -> None:
        self._dfsps = dfsps
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._body: list[bytes] = []
        self._size = 0
        self._closed = False

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP transport (uvloop's is not an asyncio.Transport subclass, so no isinstance check).
        self._transport = cast(asyncio.Transport, transport)
        self._dfsps._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._dfsps._connections.discard(self)

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._dfsps.counters.unexpected["HTTP upgrade request"] += 1
            self._answer(400, close=True)
        except httptools.HttpParserError:
            if not self._closed:  # not already answered (a body too large closes in on_body)
                self._dfsps.counters.unexpected["malformed HTTP request"] += 1
                self._answer(400, close=True)

    def close(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.close()

    # -- httptools callbacks ------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._body = []
        self._size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        if self._closed:
            return
        self._size += len(body)
        if self._size > MAX_BODY:
            self._answer(413, close=True)
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._closed:
            return
        body = b"".join(self._body)
        self._body = []
        keep_alive = self._parser.should_keep_alive()
        try:
            status = self._dfsps._route(self._parser.get_method(), self._url, body)
        except Exception as exc:  # a handler bug: answer 500 like a web framework would, keep count
            self._dfsps.counters.unexpected[f"handler error: {type(exc).__name__}: {exc}"[:120]] += 1
            status = 500
        self._answer(status, close=not keep_alive)

    def _answer(self, status: int, *, close: bool) -> None:
        transport = self._transport
        if transport is None or self._closed:
            return
        if close:
            transport.write(_CLOSING[status])
            self.close()
        else:
            transport.write(_ANSWERS[status])


class Dfsps:
    """All simulated DFSPs behind one loopback server. ``client`` sends the generator's requests
    to the hub (the payers' ``POST /transfers`` from bench.load, the payees' fulfil ``PUT``): a
    lean keep-alive HTTP/1.1 client, closed by ``stop()``. ``session`` (aiohttp) is kept for the
    callers that provision through the operator API with it; the simulator does not use it."""

    def __init__(self, hub_fspiop_url: str, session: aiohttp.ClientSession, *, secret: bytes = SECRET) -> None:
        self.hub = hub_fspiop_url
        self.session = session
        self.secret = secret
        self.pending: dict[str, tuple[str, asyncio.Future[Outcome]]] = {}
        self.payee_marks: dict[str, list[float]] = {}
        self.counters = SimCounters()
        # Unbounded in practice, as the aiohttp session was (limit=0): one connection per request
        # in flight. Idle ones close before the hub's 30 s keep-alive would close them.
        self.client = Http1Client(max_per_origin=4096, idle_timeout_s=20.0)
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> Dfsps:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), "127.0.0.1", port, backlog=2048, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        server, self._server = self._server, None
        if server is not None:
            server.close()
            for conn in list(self._connections):
                conn.close()
            await server.wait_closed()
            await asyncio.sleep(0)  # let the transports run connection_lost
        await self.client.close()

    # -- routing ------------------------------------------------------------------------------
    def _route(self, method: bytes, url: bytes, body: bytes) -> int:
        """``/{fsp}/transfers`` POST; ``/{fsp}/transfers/{id}`` PUT, PATCH;
        ``/{fsp}/transfers/{id}/error`` PUT. Unknown paths 404, other methods 405."""
        path = url.split(b"?", 1)[0].decode("utf-8", "replace")
        parts = path.split("/")
        n = len(parts)
        if n < 3 or n > 5 or parts[0] or parts[2] != "transfers" or not all(parts[1:]):
            return 404
        if n == 5 and parts[4] != "error":
            return 404
        if "%" in path:
            parts = [unquote(p) for p in parts]
        fsp = parts[1]
        if n == 3:
            return self._on_prepare(fsp, body) if method == b"POST" else 405
        transfer_id = parts[3]
        if n == 5:
            return self._on_error(fsp, transfer_id, body) if method == b"PUT" else 405
        if method == b"PUT":
            return self._on_result(fsp, transfer_id, body)
        if method == b"PATCH":
            return self._on_patch(fsp, transfer_id, body)
        return 405

    # -- payer side ---------------------------------------------------------------------------
    def expect(self, transfer_id: str, payer: str) -> asyncio.Future[Outcome]:
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.pending[transfer_id] = (payer, fut)
        return fut

    def forget(self, transfer_id: str) -> None:
        self.pending.pop(transfer_id, None)
        self.payee_marks.pop(transfer_id, None)

    def _resolve(self, fsp: str, transfer_id: str, outcome: Outcome) -> bool:
        entry = self.pending.get(transfer_id)
        if entry is None or entry[0] != fsp:
            return False  # a copy to the payee, or a late answer after the payer gave up
        del self.pending[transfer_id]
        marks = self.payee_marks.pop(transfer_id, None)
        if marks is not None:
            outcome = Outcome(outcome.ok, outcome.at, outcome.detail, (marks[0], marks[1], marks[2]))
        if not entry[1].done():
            entry[1].set_result(outcome)
        return True

    def _on_result(self, fsp: str, transfer_id: str, body: bytes) -> int:
        now = time.perf_counter()
        state = orjson.loads(body).get("transferState") if body else None
        ok = state == "COMMITTED"
        if not self._resolve(fsp, transfer_id, Outcome(ok, now, "" if ok else f"transferState {state}")):
            self.counters.notifications += 1
        return 200

    def _on_error(self, fsp: str, transfer_id: str, body: bytes) -> int:
        now = time.perf_counter()
        self.counters.errors_received += 1
        try:
            info = orjson.loads(body)["errorInformation"]
            detail = f"{info.get('errorCode')} {info.get('errorDescription')}"
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            detail = f"unreadable error body {body[:80]!r}"
        self._resolve(fsp, transfer_id, Outcome(False, now, detail))
        return 200

    def _on_patch(self, fsp: str, transfer_id: str, body: bytes) -> int:
        self.counters.notifications += 1
        return 200

    # -- payee side ---------------------------------------------------------------------------
    def _on_prepare(self, payee: str, body: bytes) -> int:
        arrived = time.perf_counter()
        self.counters.prepares_received += 1
        try:
            prepare = orjson.loads(body)
            transfer_id = str(prepare["transferId"])
            payer = str(prepare["payerFsp"])
            fulfilment = ilp.fulfilment_for(self.secret, str(prepare["ilpPacket"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ilp.IlpError) as exc:
            self.counters.unexpected[f"bad prepare: {exc}"] += 1
            return 400
        task = asyncio.create_task(self._fulfil(payee, payer, transfer_id, fulfilment, arrived))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return 202

    async def _fulfil(self, payee: str, payer: str, transfer_id: str, fulfilment: str, arrived: float) -> None:
        now = datetime.now(UTC)
        body = orjson.dumps(
            {"fulfilment": fulfilment, "completedTimestamp": format_iso(now), "transferState": "COMMITTED"}
        )
        headers = {
            "Content-Type": TRANSFERS_CT,
            "Date": format_http_date(now),
            "FSPIOP-Source": payee,
            "FSPIOP-Destination": payer,
        }
        marks = [arrived, time.perf_counter(), math.nan]
        if transfer_id in self.pending:
            self.payee_marks[transfer_id] = marks
        try:
            # No Accept on a callback PUT (the client adds no header of its own).
            resp = await self.client.request(
                "PUT", f"{self.hub}/transfers/{transfer_id}", headers=headers, body=body, timeout_s=REQUEST_TIMEOUT_S
            )
        except (TimeoutError, OSError) as exc:  # http1.Http1Error is an OSError
            self.counters.fulfil_rejected[type(exc).__name__] += 1
            self._resolve(payer, transfer_id, Outcome(False, time.perf_counter(), f"fulfil failed: {exc!r}"))
            return
        self.counters.fulfils_sent += 1
        marks[2] = time.perf_counter()
        status, answer = resp.status, resp.body
        if status != 200:
            self.counters.fulfil_rejected[str(status)] += 1
            detail = f"fulfil answered {status} {answer[:100]!r}"
            self._resolve(payer, transfer_id, Outcome(False, time.perf_counter(), detail))
