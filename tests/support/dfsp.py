"""A loopback DFSP for tests: a real aiohttp server on 127.0.0.1 (port 0) that records every
request it receives and lets a test await "the next request matching X" with a timeout.

    async with DfspServer("payeefsp") as payee:
        ...register payee.url as the participant's callback base...
        req = await payee.next_request(method="PUT", path="/quotes/123", timeout=5)
        assert req.json()["condition"] == ...

FSPIOP acknowledgements by default: ``POST``/``GET``/``DELETE`` are answered 202, ``PUT``/``PATCH``
200, all with an empty body. ``respond_with`` installs a custom responder (for 500s, slow answers,
non-FSPIOP answers, an oracle...): it gets the recorded request and returns ``(status, body,
headers)`` or None for the default answer; ``delay_s`` sleeps before answering.

Each recorded request is handed out once by ``next_request`` (in arrival order among the
matching ones), so two waits for the same path return two different requests.
``assert_no_request`` checks that nothing matching arrives within a (short) time.

``serve_hub_for_test`` runs a hub (``build_hub`` + ``server.serve_hub`` on two port-0 sockets)
in the current event loop, for end-to-end tests against these DFSPs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

ResponderResult = tuple[int, bytes | None, Mapping[str, str] | None] | None
Responder = Callable[["ReceivedRequest"], Awaitable[ResponderResult] | ResponderResult]
Matcher = Callable[["ReceivedRequest"], bool]

_DEFAULT_STATUS = {"POST": 202, "GET": 202, "DELETE": 202, "PUT": 200, "PATCH": 200}


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str  # the raw path, e.g. /parties/MSISDN/123 (percent-encoding kept)
    query: str
    headers: CIMultiDictProxy[str]
    body: bytes
    received_at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return orjson.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


class DfspServer:
    """One simulated DFSP (or oracle, or any HTTP peer) on a loopback port."""

    def __init__(self, name: str = "dfsp", *, responder: Responder | None = None, delay_s: float = 0.0) -> None:
        self.name = name
        self.requests: list[ReceivedRequest] = []
        self._responder = responder
        self._delay_s = delay_s
        self._taken: set[int] = set()
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> DfspServer:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None)
        assert sockets
        self.port = int(sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DfspServer:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        assert self.port, "server not started"
        return f"http://127.0.0.1:{self.port}"

    # -- behaviour ---------------------------------------------------------------------------
    def respond_with(self, responder: Responder | None) -> None:
        self._responder = responder

    def set_delay(self, delay_s: float) -> None:
        self._delay_s = delay_s

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        received = ReceivedRequest(
            method=request.method,
            path=request.raw_path.split("?", 1)[0],
            query=request.query_string,
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            body=body,
        )
        async with self._arrived:
            self.requests.append(received)
            self._arrived.notify_all()
        if self._delay_s:
            await asyncio.sleep(self._delay_s)
        result: ResponderResult = None
        if self._responder is not None:
            produced = self._responder(received)
            result = await produced if asyncio.iscoroutine(produced) else produced  # type: ignore[assignment]
        if result is None:
            return web.Response(status=_DEFAULT_STATUS.get(request.method, 200))
        status, resp_body, headers = result
        return web.Response(status=status, body=resp_body, headers=dict(headers or {}))

    # -- assertions --------------------------------------------------------------------------
    @staticmethod
    def _matcher(method: str | None, path: str | None, path_prefix: str | None,
                 where: Matcher | None) -> Matcher:
        def match(r: ReceivedRequest) -> bool:
            if method is not None and r.method != method.upper():
                return False
            if path is not None and r.path != path:
                return False
            if path_prefix is not None and not r.path.startswith(path_prefix):
                return False
            return where is None or where(r)

        return match

    def _take(self, match: Matcher) -> ReceivedRequest | None:
        for i, r in enumerate(self.requests):
            if i not in self._taken and match(r):
                self._taken.add(i)
                return r
        return None

    async def next_request(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        path_prefix: str | None = None,
        where: Matcher | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - the wait bound is the point of this helper
    ) -> ReceivedRequest:
        """The oldest not-yet-taken request matching every given criterion; waits up to
        ``timeout`` seconds for one to arrive, then fails with what did arrive."""
        match = self._matcher(method, path, path_prefix, where)
        deadline = time.monotonic() + timeout
        async with self._arrived:
            while True:
                found = self._take(match)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [f"{r.method} {r.path}" for r in self.requests]
                    raise AssertionError(
                        f"{self.name}: no request matching method={method} path={path or path_prefix} "
                        f"within {timeout}s; received: {seen}"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), remaining)

    async def assert_no_request(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        path_prefix: str | None = None,
        where: Matcher | None = None,
        within: float = 0.5,
    ) -> None:
        """Fail if a not-yet-taken matching request is (or arrives) here within ``within`` s."""
        match = self._matcher(method, path, path_prefix, where)
        deadline = time.monotonic() + within
        async with self._arrived:
            while True:
                for i, r in enumerate(self.requests):
                    if i not in self._taken and match(r):
                        raise AssertionError(f"{self.name}: unexpected request {r.method} {r.path}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), remaining)


@contextlib.asynccontextmanager
async def running_dfsps(*names: str) -> AsyncIterator[dict[str, DfspServer]]:
    """Several DFSP servers at once: ``async with running_dfsps("payer", "payee") as d: d["payer"]``."""
    servers = {name: DfspServer(name) for name in names}
    try:
        for s in servers.values():
            await s.start()
        yield servers
    finally:
        for s in servers.values():
            await s.stop()


@dataclass
class RunningHub:
    hub: Any  # mojahub.bootstrap.Hub
    fspiop_url: str
    admin_url: str


@contextlib.asynccontextmanager
async def serve_hub_for_test(database_url: str, **settings: Any) -> AsyncIterator[RunningHub]:
    """Migrate ``database_url``, build a hub and serve both apps on loopback port-0 sockets in
    this event loop (background workers included) until the block exits."""
    from mojahub.bootstrap import build_hub
    from mojahub.server import bind_socket, migrate, serve_hub
    from mojahub.settings import Settings

    cfg = Settings(database_url=database_url, **settings)
    await migrate(cfg)
    hub = build_hub(cfg)
    fspiop_sock = bind_socket("127.0.0.1", 0)
    admin_sock = bind_socket("127.0.0.1", 0)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_hub(hub, fspiop_sock, admin_sock, stop))
    try:
        yield RunningHub(
            hub=hub,
            fspiop_url=f"http://127.0.0.1:{fspiop_sock.getsockname()[1]}",
            admin_url=f"http://127.0.0.1:{admin_sock.getsockname()[1]}",
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        fspiop_sock.close()
        admin_sock.close()


# -- provisioning a DFSP directly in the database (for service and end-to-end tests) -------------

_P = "FSPIOP_CALLBACK_URL_"
_PARTY = "{{partyIdType}}/{{partyIdentifier}}"
_SUB = _PARTY + "/{{partySubIdOrType}}"
# endpoint type -> path appended to the DFSP's base URL ("" for base-URL types), as Mojaloop's
# provisioning registers them (reference fspiop.md §9).
ENDPOINT_PATHS: dict[str, str] = {
    _P + "PARTICIPANT_PUT": f"/participants/{_PARTY}",
    _P + "PARTICIPANT_PUT_ERROR": f"/participants/{_PARTY}/error",
    _P + "PARTICIPANT_SUB_ID_PUT": f"/participants/{_SUB}",
    _P + "PARTICIPANT_SUB_ID_PUT_ERROR": f"/participants/{_SUB}/error",
    _P + "PARTICIPANT_BATCH_PUT": "/participants/{{requestId}}",
    _P + "PARTICIPANT_BATCH_PUT_ERROR": "/participants/{{requestId}}/error",
    _P + "PARTIES_GET": f"/parties/{_PARTY}",
    _P + "PARTIES_SUB_ID_GET": f"/parties/{_SUB}",
    _P + "PARTIES_PUT": f"/parties/{_PARTY}",
    _P + "PARTIES_SUB_ID_PUT": f"/parties/{_SUB}",
    _P + "PARTIES_PUT_ERROR": f"/parties/{_PARTY}/error",
    _P + "PARTIES_SUB_ID_PUT_ERROR": f"/parties/{_SUB}/error",
    _P + "QUOTES": "",
    _P + "BULK_QUOTES": "",
    _P + "TRX_REQ_SERVICE": "",
    _P + "AUTHORIZATIONS": "",
    _P + "TRANSFER_POST": "/transfers",
    _P + "TRANSFER_PUT": "/transfers/{{transferId}}",
    _P + "TRANSFER_ERROR": "/transfers/{{transferId}}/error",
}


async def seed_dfsp(
    db: Any,
    name: str,
    *,
    currencies: tuple[str, ...] = ("XXX",),
    base_url: str | None = None,
    active: bool = True,
    accounts_active: bool = True,
    endpoint_types: tuple[str, ...] | None = None,
) -> None:
    """Insert a DFSP with POSITION and SETTLEMENT accounts per currency and (when ``base_url`` is
    given) every FSPIOP callback endpoint pointing at it, straight into the tables of a migrated
    ``mojahub.storage.engine.Database`` — no Admin API needed."""
    from datetime import UTC, datetime

    from sqlalchemy import insert, select

    from mojahub.participants.tables import account, ledger_account_type, participant, participant_endpoint

    now = datetime.now(UTC)
    async with db.write() as conn:
        lat = {r.name: r.id for r in (await conn.execute(select(ledger_account_type))).all()}
        result = await conn.execute(
            insert(participant).values(name=name, is_active=active, is_proxy=False, created_at=now,
                                       created_by="test")
        )
        pid = result.inserted_primary_key[0]
        for currency in currencies:
            for kind in ("POSITION", "SETTLEMENT"):
                await conn.execute(
                    insert(account).values(participant_id=pid, currency=currency, ledger_account_type_id=lat[kind],
                                           is_active=accounts_active, created_at=now, created_by="test")
                )
        if base_url is not None:
            types = endpoint_types if endpoint_types is not None else tuple(ENDPOINT_PATHS)
            for endpoint_type in types:
                await conn.execute(
                    insert(participant_endpoint).values(
                        participant_id=pid, endpoint_type=endpoint_type,
                        value=base_url.rstrip("/") + ENDPOINT_PATHS[endpoint_type], created_at=now, changed_at=now,
                    )
                )
