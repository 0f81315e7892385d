"""The simulator's plumbing: one pooled HTTP client to the hub, FSPIOP request headers,
waiters that pair a request with its asynchronous callback, background answers, and events.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

import aiohttp
import orjson
import structlog
from aiohttp import web

from mojahub.fspiop.headers import accept_header, content_type
from mojahub.kernel.clock import Clock, SystemClock
from mojahub.kernel.errors import ErrorCode, error_body
from mojahub.kernel.timefmt import format_http_date
from mojahub.sim.config import SimConfig
from mojahub.sim.events import SENT, EventSink, SimEvent, summarize

log = structlog.get_logger(__name__)

# A callback outcome: (success, body). success=False for a PUT .../error (or a failed request).
Outcome = tuple[bool, dict[str, Any]]


class SimCore:
    def __init__(self, config: SimConfig, *, clock: Clock | None = None, on_event: EventSink | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.on_event = on_event
        self.events: list[SimEvent] = []
        self.keep_events = on_event is None  # without a sink, keep a bounded in-memory log
        self._session: aiohttp.ClientSession | None = None
        self._waiters: dict[tuple[str, str], list[asyncio.Future[Outcome]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.config.max_connections),
                timeout=aiohttp.ClientTimeout(total=self.config.request_timeout_s),
                json_serialize=lambda v: orjson.dumps(v).decode(),
                # FSPIOP callbacks (PUT) carry no Accept; aiohttp would add "*/*" otherwise.
                skip_auto_headers=("Accept",),
            )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for futures in self._waiters.values():
            for fut in futures:
                fut.cancel()
        self._waiters.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def fsp_id(self) -> str:
        return self.config.fsp_id

    def now(self) -> datetime:
        return self.clock.now()

    # ---- events ----------------------------------------------------------------------------
    def record(self, direction: str, method: str, path: str, peer: str | None, body: Any,
               status: int | None = None, summary: str | None = None) -> None:
        event = SimEvent(
            at=self.now(), fsp=self.fsp_id, direction=direction, method=method, path=path, peer=peer,
            summary=summary if summary is not None else summarize(method, path, body), status=status,
        )
        if self.on_event is not None:
            self.on_event(event)
        elif self.keep_events:
            self.events.append(event)
            if len(self.events) > 10_000:  # bounded: a long-running simulator keeps the recent past
                del self.events[:5_000]

    # ---- background answers ----------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sim.task_failed", fsp=self.fsp_id, exc_info=task.exception())

    async def delay(self, delay_ms: int) -> None:
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)

    # ---- waiters ---------------------------------------------------------------------------
    def expect(self, resource: str, key: str) -> asyncio.Future[Outcome]:
        """Register interest in the callback for ``resource``/``key`` before sending the request."""
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault((resource, key), []).append(fut)
        return fut

    def forget(self, resource: str, key: str, fut: asyncio.Future[Outcome]) -> None:
        futures = self._waiters.get((resource, key))
        if futures and fut in futures:
            futures.remove(fut)
            if not futures:
                del self._waiters[(resource, key)]

    def resolve(self, resource: str, key: str, outcome: Outcome) -> bool:
        """Hand a callback to whoever waits for it; False when nobody does."""
        futures = self._waiters.pop((resource, key), None)
        if not futures:
            return False
        for fut in futures:
            if not fut.done():
                fut.set_result(outcome)
        return True

    async def wait(self, resource: str, key: str, fut: asyncio.Future[Outcome], what: str) -> Outcome:
        try:
            return await asyncio.wait_for(fut, timeout=self.config.callback_timeout_s)
        except TimeoutError:
            self.forget(resource, key, fut)
            return False, error_body(
                ErrorCode.SERVER_TIMED_OUT.code,
                f"no {what} within {self.config.callback_timeout_s:g} s",
            )

    # ---- sending ---------------------------------------------------------------------------
    def headers(self, resource: str, method: str, destination: str | None, *, has_body: bool) -> dict[str, str]:
        h = {"Date": format_http_date(self.now()), "FSPIOP-Source": self.fsp_id}
        if destination:
            h["FSPIOP-Destination"] = destination
        if has_body:
            h["Content-Type"] = content_type(resource, self.config.fspiop_version)
        if method in ("GET", "POST", "DELETE"):
            h["Accept"] = accept_header(resource, self.config.fspiop_version.split(".", 1)[0])
        return h

    async def send(self, method: str, path: str, body: dict[str, Any] | None, *,
                   destination: str | None) -> tuple[int | None, dict[str, Any] | None]:
        """Send one FSPIOP request to the hub; returns (HTTP status, error body if any).

        A transport failure gives status None and an errorInformation describing it.
        """
        assert self._session is not None, "simulator not started"
        resource = path.strip("/").split("/", 1)[0]
        raw = orjson.dumps(body) if body is not None else None
        headers = self.headers(resource, method, destination, has_body=raw is not None)
        status: int | None = None
        answer: dict[str, Any] | None = None
        try:
            async with self._session.request(method, self.config.hub_url.rstrip("/") + path,
                                             data=raw, headers=headers) as resp:
                status = resp.status
                payload = await resp.read()
                if status >= 300:
                    answer = _error_from(payload, status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            answer = error_body(ErrorCode.DESTINATION_COMMUNICATION_ERROR.code, f"hub unreachable: {exc}"[:128])
        summary = summarize(method, path, body)
        if answer is not None:
            info = answer.get("errorInformation", {})
            summary = f"{summary} => refused: {info.get('errorCode')} {info.get('errorDescription', '')}".strip()
        self.record(SENT, method, path, destination, body, status=status, summary=summary)
        return status, answer


def _error_from(payload: bytes, status: int) -> dict[str, Any]:
    with contextlib.suppress(orjson.JSONDecodeError):
        value = orjson.loads(payload) if payload else None
        if isinstance(value, dict) and isinstance(value.get("errorInformation"), dict):
            return value
    return error_body(ErrorCode.CLIENT_ERROR.code, f"hub answered HTTP {status}")


# ---- inbound helpers (aiohttp) -------------------------------------------------------------
def fspiop_error(code: ErrorCode, description: str | None = None, status: int | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(error_body(code.code, description or code.description)),
        status=status or code.http_status,
        content_type="application/json",
    )


async def read_json(request: web.Request) -> dict[str, Any] | web.Response:
    """The request body as a JSON object, or the error response to answer with."""
    raw = await request.read()
    try:
        value = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return fspiop_error(ErrorCode.MALFORMED_SYNTAX, "body is not valid JSON")
    if not isinstance(value, dict):
        return fspiop_error(ErrorCode.MALFORMED_SYNTAX, "body must be a JSON object")
    return value


def missing(body: dict[str, Any], *keys: str) -> web.Response | None:
    for key in keys:
        if key not in body:
            return fspiop_error(ErrorCode.MISSING_ELEMENT, f"/requestBody must have required property '{key}'")
    return None
