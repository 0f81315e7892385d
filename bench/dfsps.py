"""The simulated DFSPs: one aiohttp server on loopback playing every payer and payee.

Each DFSP's callback endpoints are ``http://127.0.0.1:{port}/{fsp}/transfers...``. As payee it
auto-fulfils: on ``POST /transfers`` it answers 202, regenerates the fulfilment from the ILP
packet (HMAC-SHA256 with the scheme-wide bench secret, FSPIOP §7.1) and sends
``PUT /transfers/{id}`` to the hub. As payer it resolves the waiting transfer when the hub's
``PUT /transfers/{id}`` (or ``/error``) arrives.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import orjson
from aiohttp import web

from mojahub.kernel import ilp
from mojahub.kernel.timefmt import format_http_date, format_iso

TRANSFERS_CT = "application/vnd.interoperability.transfers+json;version=1.1"
TRANSFERS_ACCEPT = "application/vnd.interoperability.transfers+json;version=1"
SECRET = b"mojahub-bench-payee-secret-32byt"


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


class Dfsps:
    """All simulated DFSPs behind one loopback server; ``session`` is the generator's one
    aiohttp session (also used for the payees' fulfil requests)."""

    def __init__(self, hub_fspiop_url: str, session: aiohttp.ClientSession, *, secret: bytes = SECRET) -> None:
        self.hub = hub_fspiop_url
        self.session = session
        self.secret = secret
        self.pending: dict[str, tuple[str, asyncio.Future[Outcome]]] = {}
        self.payee_marks: dict[str, list[float]] = {}
        self.counters = SimCounters()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> Dfsps:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/{fsp}/transfers", self._on_prepare)
        app.router.add_put("/{fsp}/transfers/{transfer_id}", self._on_result)
        app.router.add_put("/{fsp}/transfers/{transfer_id}/error", self._on_error)
        app.router.add_patch("/{fsp}/transfers/{transfer_id}", self._on_patch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, backlog=2048)
        await site.start()
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

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

    async def _on_result(self, request: web.Request) -> web.Response:
        now = time.perf_counter()
        body = await request.read()
        fsp, transfer_id = request.match_info["fsp"], request.match_info["transfer_id"]
        state = orjson.loads(body).get("transferState") if body else None
        ok = state == "COMMITTED"
        if not self._resolve(fsp, transfer_id, Outcome(ok, now, "" if ok else f"transferState {state}")):
            self.counters.notifications += 1
        return web.Response(status=200)

    async def _on_error(self, request: web.Request) -> web.Response:
        now = time.perf_counter()
        body = await request.read()
        self.counters.errors_received += 1
        fsp, transfer_id = request.match_info["fsp"], request.match_info["transfer_id"]
        try:
            info = orjson.loads(body)["errorInformation"]
            detail = f"{info.get('errorCode')} {info.get('errorDescription')}"
        except (orjson.JSONDecodeError, KeyError, TypeError):
            detail = f"unreadable error body {body[:80]!r}"
        self._resolve(fsp, transfer_id, Outcome(False, now, detail))
        return web.Response(status=200)

    async def _on_patch(self, request: web.Request) -> web.Response:
        await request.read()
        self.counters.notifications += 1
        return web.Response(status=200)

    # -- payee side ---------------------------------------------------------------------------
    async def _on_prepare(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        body = await request.read()
        self.counters.prepares_received += 1
        payee = request.match_info["fsp"]
        try:
            prepare = orjson.loads(body)
            transfer_id = str(prepare["transferId"])
            payer = str(prepare["payerFsp"])
            fulfilment = ilp.fulfilment_for(self.secret, str(prepare["ilpPacket"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ilp.IlpError) as exc:
            self.counters.unexpected[f"bad prepare: {exc}"] += 1
            return web.Response(status=400)
        task = asyncio.create_task(self._fulfil(payee, payer, transfer_id, fulfilment, arrived))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=202)

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
            # No Accept on a callback PUT: aiohttp's default "*/*" is not an FSPIOP accept (3101).
            async with self.session.put(
                f"{self.hub}/transfers/{transfer_id}", data=body, headers=headers, skip_auto_headers=("Accept",)
            ) as resp:
                answer = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self.counters.fulfil_rejected[type(exc).__name__] += 1
            self._resolve(payer, transfer_id, Outcome(False, time.perf_counter(), f"fulfil failed: {exc!r}"))
            return
        self.counters.fulfils_sent += 1
        marks[2] = time.perf_counter()
        if status != 200:
            self.counters.fulfil_rejected[str(status)] += 1
            detail = f"fulfil answered {status} {answer[:100]!r}"
            self._resolve(payer, transfer_id, Outcome(False, time.perf_counter(), detail))
