"""The outbox dispatcher: claims due outbox messages, sends them to the recipient's registered
endpoint, records every attempt, retries with bounded backoff. ``http://`` endpoints go through
the lean keep-alive client of ``callbacks.http1``; ``https://`` ones through one pooled aiohttp
session, opened at the first such callback.

Delivery rules (ARCHITECTURE "Callbacks go through a transactional outbox"; fspiop.md §1.1, §10):

* 2xx → DELIVERED. Network errors, timeouts and 5xx → retried after
  ``min(backoff_base * 2**(n-1), backoff_max)`` until ``callback_attempts_max`` attempts, then
  FAILED. Any other status (3xx, 4xx) → FAILED at once: the API says not to retry those.
* No endpoint of the type registered (or no such participant, or a template that renders no
  usable URL) → FAILED with a clear error.
* A forwarded request that ends FAILED (and is not itself an error callback) makes the hub tell
  the message's ``origin`` with ``PUT {path}/error``: 3201 when there was no endpoint, 1001 when
  the destination could not be reached or refused it. That error callback is enqueued in the same
  transaction that records the failure.

Sending is concurrent per message with a global bound (``callback_concurrency``) and a bound per
recipient (``callback_per_host_connections``): recipients at their bound are left out of the next
claim, so a slow or dead DFSP cannot take every slot and delay callbacks to the others.

Several dispatchers (worker processes) share one database safely (see ``store``); delivery is
at-least-once: a message is sent again only if its claimer died (or stalled past
``callback_lease_s``) between sending and recording, which FSPIOP receivers tolerate.

Wake-up (adaptive, so an idle hub costs almost nothing):

* at once when ``wakeup`` is set — the Hub's ``notify_outbox()`` sets it after a commit that
  enqueued messages; on PostgreSQL a ``NOTIFY`` from another process sets it too (``wake``);
* at once again after a full claim (more may be due);
* otherwise after a delay that starts at ``callback_poll_interval_s`` after a claim that found
  work and doubles after every empty claim up to ``callback_idle_poll_max_s`` — but never later
  than the earliest scheduled retry (``store.next_due``, read in the empty claim's transaction),
  so retries leave on time however long the dispatcher has been idle;
* messages this process cannot take itself (its claim came back full, or every slot is busy)
  are announced to the other processes with ``NOTIFY``. A process's own enqueues are claimed by
  its own dispatcher (``notify_outbox``), so NOTIFY is not sent per commit: that would make every
  worker claim for every commit of every other worker, the cost this design removes;
* when the listener connection is down (or on PostgreSQL with ``callback_listen`` off) the delay
  stays at ``callback_poll_interval_s``: plain polling, as before. On SQLite (one process per
  database file in practice) there is no cross-process signal: other processes' messages that
  were not claimed by their own dispatcher wait at most ``callback_idle_poll_max_s``; so does
  a message whose claimer died, after its lease (``callback_lease_s``) ran out.

Fast path: the clearing core enqueues its callbacks already leased to this process
(``storage.outbox.enqueue_leased``, ``claimed_until`` = now + ``callback_lease_s``) and hands them
to ``accept`` after its commit, so they are sent without a claim query. Results are fenced on that
lease like any claim; if the process dies before sending, the lease runs out and any dispatcher
claims them. A wake-up that follows a hand-off (the route's ``notify_outbox()`` for the same
commit) triggers a claim within ``callback_poll_interval_s`` rather than at once.

Endpoint templates are cached per recipient (all its types, one query for every recipient of a
claim that is not cached) for ``callback_endpoint_cache_s``: an operator's change reaches every
process within that time. A recipient or type that is missing in the cache is re-read before a
message is declared undeliverable, so a just-registered endpoint is never missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter as Tally
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
import structlog

from mojahub.callbacks import metrics, store
from mojahub.callbacks.http1 import Http1Client, InvalidRequest, InvalidURL
from mojahub.callbacks.render import undeliverable_error
from mojahub.callbacks.store import AttemptRecord, ClaimedMessage
from mojahub.callbacks.templates import UrlContext, render_url
from mojahub.callbacks.wake import OutboxSignal, asyncpg_dsn
from mojahub.kernel.clock import Clock
from mojahub.kernel.errors import ErrorCode
from mojahub.settings import Settings
from mojahub.storage.engine import DB_ERRORS, Database
from mojahub.storage.outbox import DELIVERED, FAILED, PENDING, LeasedMessage, OutboundMessage, enqueue

log = structlog.get_logger(__name__)

# Errors that mean "the database did not answer this time": the dispatcher logs them and tries
# again at the next poll; anything else is a bug and propagates.
_DB_ERRORS: tuple[type[Exception], ...] = (*DB_ERRORS, OSError, asyncio.TimeoutError)
_MAX_ERROR_TEXT = 1000
_PURGE_ROUNDS_MAX = 10  # per housekeeping round: purging never hogs the database
_KEEPALIVE_S = 30.0  # idle pooled connections are closed after this


def backoff_s(attempt_no: int, base_s: float, max_s: float) -> float:
    """Delay after the ``attempt_no``-th failed attempt: bounded exponential."""
    return float(min(base_s * (2.0 ** min(attempt_no - 1, 64)), max_s))


async def _first_of(*events: asyncio.Event) -> None:
    """Wait until any of the events is set."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


@dataclass(frozen=True, slots=True)
class _Endpoint:
    template: str | None
    problem: str | None  # why there is no template, for the record


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        clock: Clock,
        *,
        wakeup: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.wakeup = wakeup or asyncio.Event()
        self._session: aiohttp.ClientSession | None = None  # https:// endpoints, opened on first use
        self._http: Http1Client | None = None  # http:// endpoints
        self._in_flight: dict[int, ClaimedMessage] = {}
        self._per_recipient: Tally[str] = Tally()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._records: list[AttemptRecord] = []
        self._records_ready = asyncio.Event()
        # recipient -> (its endpoint templates by type, or None: no such participant; expiry)
        self._endpoints: dict[str, tuple[dict[str, str] | None, float]] = {}
        self.signal: OutboxSignal | None = None
        if db.is_postgres and settings.callback_listen:
            self.signal = OutboxSignal(asyncpg_dsn(db.engine.url), self.wakeup)
        self.idle_delay_s = settings.callback_poll_interval_s  # the current adaptive delay
        self.claims = 0  # claim transactions run (for tests and benchmarks)
        self.started = 0  # messages this dispatcher started sending
        # Fast path: messages this process enqueued already leased to itself (``accept``).
        self._handed: deque[ClaimedMessage] = deque()
        self._handoff_ready = asyncio.Event()
        self._handed_since_claim = False
        self.handed = 0  # messages started from a hand-off, without a claim query

    # --- lifecycle ------------------------------------------------------------------------

    def _make_session(self) -> aiohttp.ClientSession:
        s = self.settings
        connector = aiohttp.TCPConnector(
            limit=s.callback_concurrency,
            limit_per_host=s.callback_per_host_connections,
            keepalive_timeout=_KEEPALIVE_S,
            enable_cleanup_closed=True,
        )
        timeout = aiohttp.ClientTimeout(
            total=s.callback_timeout_s,
            sock_connect=s.callback_connect_timeout_s,
        )
        # FSPIOP: callbacks carry no Accept (conformance-notes §0); Content-Type is exactly the
        # stored one, never aiohttp's octet-stream default.
        return aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            skip_auto_headers=("Accept", "Content-Type"),
            auto_decompress=False,
        )

    def _make_http(self) -> Http1Client:
        s = self.settings
        return Http1Client(
            max_per_origin=s.callback_per_host_connections,
            idle_timeout_s=_KEEPALIVE_S,
            connect_timeout_s=s.callback_connect_timeout_s,
        )

    async def run(self) -> None:
        """Deliver until cancelled (a ``Hub.background`` task)."""
        self._http = self._make_http()
        recorder = asyncio.create_task(self._record_loop(), name="callbacks-recorder")
        housekeeper = asyncio.create_task(self._housekeeping_loop(), name="callbacks-housekeeping")
        helpers = [housekeeper]
        if self.signal is not None:
            helpers.append(asyncio.create_task(self.signal.run(), name="callbacks-listener"))
        try:
            await self._claim_loop()
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self._shutdown(recorder)

    async def close(self) -> None:
        """Close the HTTP clients (a ``Hub.closers`` hook; ``run`` also closes them on exit)."""
        if self._http is not None:
            await self._http.close()
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def _shutdown(self, recorder: asyncio.Task[None]) -> None:
        # Snapshot first: a cancelled send leaves ``_in_flight``. Releasing a message whose result
        # did get recorded is a no-op (the release is fenced by the claim).
        unsent = list(self._in_flight.values()) + list(self._handed)
        self._handed.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        recorder.cancel()
        await asyncio.gather(recorder, return_exceptions=True)
        try:
            await self._flush_records()
            if unsent:
                async with self.db.write() as conn:
                    await store.release(conn, unsent)
        except _DB_ERRORS:
            log.warning("callbacks.shutdown_release_failed", messages=len(unsent))
        await self.close()

    # --- claiming -------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        s = self.settings
        # Claim in batches: with messages in flight, wait until a quarter of the slots (or a batch)
        # is free rather than claiming one row per finished send.
        min_free = max(1, min(s.callback_batch_size, s.callback_concurrency) // 4)
        failures = 0
        claim_at = 0.0  # monotonic time of the next claim
        while True:
            self._handoff_ready.clear()
            if self._handed:
                self._slot_freed.clear()
                await self._start_handed()
            free = s.callback_concurrency - len(self._in_flight)
            if free < min_free and self._in_flight:
                if self.wakeup.is_set():
                    # New work while every slot is busy: let another process take it. (We claim
                    # anyway as soon as slots free up, so the wake-up is consumed here.)
                    self.wakeup.clear()
                    self._announce()
                self._slot_freed.clear()
                await _first_of(self._slot_freed, self.wakeup, self._handoff_ready)
                claim_at = 0.0
                continue
            mono = time.monotonic()
            if self.wakeup.is_set():
                # After a hand-off, a wake-up is most likely that commit's own (its route notifies
                # too): claim for anything else within the base interval, not once per commit.
                claim_at = min(claim_at, mono + s.callback_poll_interval_s) if self._handed_since_claim else 0.0
            if mono >= claim_at:
                want = min(free, s.callback_batch_size)
                self.wakeup.clear()
                self._handed_since_claim = False
                try:
                    claimed, due = await self._claim(want)
                    failures = 0
                except _DB_ERRORS:
                    # The database is away: back off (bounded) instead of logging every poll.
                    failures += 1
                    log.exception("callbacks.claim_failed", failures=failures)
                    await asyncio.sleep(backoff_s(failures, s.callback_poll_interval_s, s.callback_backoff_max_s))
                    continue
                if len(claimed) >= want:
                    self._announce()  # more may be due than this process takes now
                    self.idle_delay_s = s.callback_poll_interval_s
                    await asyncio.sleep(0)  # claim again, letting senders run
                    continue
                claim_at = time.monotonic() + self._next_delay(found_work=bool(claimed), due=due)
            if self.wakeup.is_set() and not self._handed_since_claim:
                continue  # woken while claiming: claim again at once
            timeout = claim_at - time.monotonic()
            if timeout > 0:
                events = [self._handoff_ready]
                if not self.wakeup.is_set():
                    events.append(self.wakeup)
                if self._handed:
                    events.append(self._slot_freed)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first_of(*events), timeout=timeout)

    def accept(self, leased: Sequence[LeasedMessage]) -> None:
        """Take messages this process enqueued already leased to it (``storage.outbox.enqueue_leased``),
        after their transaction committed: they are sent without a claim query. Not sent before
        their lease runs out (this process stalled or died), any dispatcher claims them."""
        for lm in leased:
            m = lm.message
            self._handed.append(ClaimedMessage(
                id=lm.id, token=lm.token, recipient=m.recipient, endpoint_type=m.endpoint_type, method=m.method,
                path=m.path, params=dict(m.params), headers=dict(m.headers), body=m.body,
                request_id=m.request_id, origin=m.origin, attempts=0,
            ))
        if leased:
            self._handed_since_claim = True
            self._handoff_ready.set()

    async def _start_handed(self) -> None:
        """Start handed-over messages within the global and per-recipient bounds; the others wait
        (still leased) for free slots. Messages whose lease ran out are dropped: claimable again."""
        s = self.settings
        cap = s.callback_per_host_connections
        free = s.callback_concurrency - len(self._in_flight)
        now = self.clock.now()
        room = {r: cap - n for r, n in self._per_recipient.items()}
        take: list[ClaimedMessage] = []
        wait: list[ClaimedMessage] = []
        while self._handed:
            m = self._handed.popleft()
            if m.token <= now:
                continue
            left = room.get(m.recipient, cap)
            if len(take) < free and left > 0:
                take.append(m)
                room[m.recipient] = left - 1
            else:
                wait.append(m)
        self._handed.extend(wait)
        if not take:
            return
        try:
            endpoints = await self._resolve([(m.recipient, m.endpoint_type) for m in take])
        except _DB_ERRORS:
            log.warning("callbacks.handoff_resolve_failed", exc_info=True)
            self._handed.extendleft(reversed(take))
            await asyncio.sleep(self.settings.callback_poll_interval_s)
            return
        self.handed += len(take)
        for m in take:
            self._start(m, endpoints[(m.recipient, m.endpoint_type)])

    def _next_delay(self, *, found_work: bool, due: datetime | None) -> float:
        """Seconds to sleep after a claim that was not full (see the module docstring)."""
        s = self.settings
        base = s.callback_poll_interval_s
        if found_work:
            self.idle_delay_s = base
        delay = self.idle_delay_s
        if not found_work:  # the next empty claim waits twice as long
            self.idle_delay_s = min(max(self.idle_delay_s * 2, base), s.callback_idle_poll_max_s)
        if self.db.is_postgres and (self.signal is None or not self.signal.connected):
            delay = min(delay, base)  # no cross-process wake-ups: poll as before
        if any(n >= s.callback_per_host_connections for n in self._per_recipient.values()):
            delay = min(delay, base)  # a recipient at its bound may have messages left behind
        if due is not None:
            delay = min(delay, max(0.0, (due - self.clock.now()).total_seconds()))
        return delay

    def _announce(self) -> None:
        signal = self.signal
        if signal is None or not signal.connected:
            return
        task = asyncio.create_task(signal.announce(), name="callbacks-announce")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _claim(self, want: int) -> tuple[list[ClaimedMessage], datetime | None]:
        """Claim and start up to ``want`` messages; with an empty claim, also when the next
        scheduled retry is due."""
        cap = self.settings.callback_per_host_connections
        saturated = [r for r, n in self._per_recipient.items() if n >= cap]
        now = self.clock.now()
        lease_until = now + timedelta(seconds=self.settings.callback_lease_s)
        due: datetime | None = None
        self.claims += 1
        async with self.db.write() as conn:
            claimed = await store.claim(
                conn,
                now=now,
                lease_until=lease_until,
                limit=want,
                exclude_recipients=saturated,
                skip_locked=self.db.is_postgres,
            )
            if not claimed:
                due = await store.next_due(conn, now=now)
        if not claimed:
            return [], due
        # A recipient may not take more than its bound, even within one batch.
        room = {r: cap - n for r, n in self._per_recipient.items()}
        keep: list[ClaimedMessage] = []
        give_back: list[ClaimedMessage] = []
        for m in claimed:
            left = room.get(m.recipient, cap)
            if left > 0:
                keep.append(m)
                room[m.recipient] = left - 1
            else:
                give_back.append(m)
        if give_back:
            async with self.db.write() as conn:
                await store.release(conn, give_back)
        try:
            endpoints = await self._resolve([(m.recipient, m.endpoint_type) for m in keep])
        except _DB_ERRORS:
            with contextlib.suppress(*_DB_ERRORS):
                async with self.db.write() as conn:
                    await store.release(conn, keep)
            raise
        for m in keep:
            self._start(m, endpoints[(m.recipient, m.endpoint_type)])
        return claimed, None

    def _start(self, message: ClaimedMessage, endpoint: _Endpoint) -> None:
        self._in_flight[message.id] = message
        self.started += 1
        self._per_recipient[message.recipient] += 1
        metrics.CALLBACKS_IN_FLIGHT.inc()
        task = asyncio.create_task(self._deliver(message, endpoint), name=f"callback-{message.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _finish(self, message: ClaimedMessage) -> None:
        self._in_flight.pop(message.id, None)
        self._per_recipient[message.recipient] -= 1
        if self._per_recipient[message.recipient] <= 0:
            del self._per_recipient[message.recipient]
        metrics.CALLBACKS_IN_FLIGHT.dec()
        self._slot_freed.set()

    async def _housekeeping_loop(self) -> None:
        """Every ``callback_backlog_interval_s``: refresh the backlog gauge and delete DELIVERED
        messages older than ``callback_retention_s`` (bounded batches; FAILED ones stay for the
        operator)."""
        s = self.settings
        while True:
            try:
                await self.housekeeping()
            except _DB_ERRORS:
                log.warning("callbacks.housekeeping_failed", exc_info=True)
            await asyncio.sleep(s.callback_backlog_interval_s)

    async def housekeeping(self) -> int:
        """One round of housekeeping; returns the number of messages purged."""
        s = self.settings
        async with self.db.read() as conn:
            metrics.OUTBOX_BACKLOG.set(await store.backlog(conn))
        if s.callback_retention_s is None:
            return 0
        cutoff = self.clock.now() - timedelta(seconds=s.callback_retention_s)
        purged = 0
        for _ in range(_PURGE_ROUNDS_MAX):
            async with self.db.write() as conn:
                n = await store.purge_delivered(conn, before=cutoff, limit=s.callback_batch_size)
            purged += n
            if n < s.callback_batch_size:
                break
        return purged

    # --- endpoints ------------------------------------------------------------------------

    async def _resolve(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], _Endpoint]:
        """The endpoint template of each (recipient, type): from the per-recipient cache, else one
        query loading every endpoint of every recipient not cached (or cached without that type:
        a miss is always re-read before it counts)."""
        mono = time.monotonic()
        ttl = self.settings.callback_endpoint_cache_s
        out: dict[tuple[str, str], _Endpoint] = {}
        missing: list[tuple[str, str]] = []
        for key in dict.fromkeys(keys):
            cached = self._endpoints.get(key[0])
            template = cached[0].get(key[1]) if cached is not None and cached[0] is not None else None
            if cached is not None and cached[1] > mono and template is not None and template.strip():
                out[key] = _Endpoint(template, None)
            else:
                missing.append(key)
        if not missing:
            return out
        names = list(dict.fromkeys(fsp for fsp, _ in missing))
        async with self.db.read() as conn:
            found = await store.endpoints_of(conn, names)
        for name in names:
            self._endpoints[name] = (found.get(name), mono + ttl)
        if ttl <= 0:
            for name in names:
                del self._endpoints[name]
        for fsp, endpoint_type in missing:
            types = found.get(fsp)
            template = types.get(endpoint_type) if types is not None else None
            if template is not None and template.strip():
                out[(fsp, endpoint_type)] = _Endpoint(template, None)
            elif types is None:
                out[(fsp, endpoint_type)] = _Endpoint(None, f"{fsp} is not a participant of this hub")
            else:
                out[(fsp, endpoint_type)] = _Endpoint(None, f"{fsp} has no {endpoint_type} endpoint registered")
        return out

    def forget_endpoints(self) -> None:
        """Drop cached endpoint templates (after an operator changed them)."""
        self._endpoints.clear()

    # --- sending --------------------------------------------------------------------------

    async def _deliver(self, message: ClaimedMessage, endpoint: _Endpoint) -> None:
        try:
            record = await self._attempt(message, endpoint)
        except asyncio.CancelledError:
            raise
        else:
            self._records.append(record)
            self._records_ready.set()
        finally:
            self._finish(message)

    async def _attempt(self, message: ClaimedMessage, endpoint: _Endpoint) -> AttemptRecord:
        now = self.clock.now()
        if endpoint.template is None:
            metrics.CALLBACK_ATTEMPTS.labels("no_endpoint").inc()
            return self._verdict(message, now, url=None, status=None, latency_ms=None,
                                 error=f"undeliverable: {endpoint.problem}", retry=False)
        url = render_url(
            endpoint.template,
            message.endpoint_type,
            UrlContext(message.recipient, message.path, message.params, message.request_id),
        )
        if not url.startswith(("http://", "https://")):
            metrics.CALLBACK_ATTEMPTS.labels("no_endpoint").inc()
            return self._verdict(message, now, url=url, status=None, latency_ms=None,
                                 error=f"undeliverable: {message.endpoint_type} of {message.recipient} "
                                       f"is not an http(s) URL", retry=False)
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        outcome: str
        try:
            if url.startswith("http://"):
                http = self._http
                assert http is not None
                status = (await http.request(
                    message.method,
                    url,
                    headers=message.headers,
                    body=message.body,
                    timeout_s=self.settings.callback_timeout_s,
                )).status
            else:
                status = await self._send_https(message, url)
        except TimeoutError:
            error = f"timeout after {self.settings.callback_timeout_s}s"
            outcome = "timeout"
        except (aiohttp.InvalidURL, InvalidURL) as exc:
            error = f"undeliverable: invalid URL {exc}"
            outcome = "no_endpoint"
        except InvalidRequest as exc:
            error = f"undeliverable: {exc}"
            outcome = "no_endpoint"
        except (aiohttp.ClientError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            outcome = "network_error"
        latency = time.perf_counter() - started
        latency_ms = int(latency * 1000)
        metrics.CALLBACK_LATENCY.observe(latency)
        if status is not None:
            if 200 <= status < 300:
                metrics.DELIVERED_ATTEMPTS.inc()
                return self._verdict(message, now, url=url, status=status, latency_ms=latency_ms,
                                     error=None, retry=False, delivered=True)
            retry = status >= 500
            outcome = "http_5xx" if retry else ("http_4xx" if 400 <= status < 500 else "http_other")
            metrics.CALLBACK_ATTEMPTS.labels(outcome).inc()
            return self._verdict(message, now, url=url, status=status, latency_ms=latency_ms,
                                 error=f"HTTP {status}", retry=retry)
        metrics.CALLBACK_ATTEMPTS.labels(outcome).inc()
        return self._verdict(message, now, url=url, status=None, latency_ms=latency_ms,
                             error=(error or "error")[:_MAX_ERROR_TEXT], retry=outcome != "no_endpoint")

    async def _send_https(self, message: ClaimedMessage, url: str) -> int:
        session = self._session
        if session is None:
            session = self._session = self._make_session()
        async with session.request(
            message.method,
            url,
            data=message.body,
            headers={k: str(v) for k, v in message.headers.items()},
            allow_redirects=False,
        ) as resp:
            await resp.read()
            return resp.status

    def _verdict(
        self,
        message: ClaimedMessage,
        now: datetime,
        *,
        url: str | None,
        status: int | None,
        latency_ms: int | None,
        error: str | None,
        retry: bool,
        delivered: bool = False,
    ) -> AttemptRecord:
        attempt_no = message.attempts + 1
        if delivered:
            next_state, due = DELIVERED, now
        elif retry and attempt_no < self.settings.callback_attempts_max:
            next_state, due = PENDING, now + timedelta(seconds=self.backoff_s(attempt_no))
        else:
            next_state, due = FAILED, now
        return AttemptRecord(message, now, url, status, latency_ms, error, next_state, due)

    def backoff_s(self, attempt_no: int) -> float:
        s = self.settings
        return backoff_s(attempt_no, s.callback_backoff_base_s, s.callback_backoff_max_s)

    # --- recording ------------------------------------------------------------------------

    async def _record_loop(self) -> None:
        delay = self.settings.callback_record_delay_ms / 1000
        while True:
            await self._records_ready.wait()
            if delay > 0:
                # Under load attempts finish every few hundred microseconds: one transaction for
                # all of them. (Only the bookkeeping waits; the callbacks have already been sent.)
                await asyncio.sleep(delay)
            self._records_ready.clear()
            try:
                await self._flush_records()
            except _DB_ERRORS:
                log.exception("callbacks.record_failed", pending=len(self._records))
                await asyncio.sleep(self.settings.callback_poll_interval_s)
                self._records_ready.set()

    async def _flush_records(self) -> None:
        """Write every finished attempt in one transaction (and any error callbacks they cause).
        Records whose lease has run out are dropped: another dispatcher owns those messages."""
        if not self._records:
            return
        batch, self._records = self._records, []
        now = self.clock.now()
        batch = [r for r in batch if r.message.token > now]
        try:
            async with self.db.write() as conn:
                applied = await store.record(conn, batch)
                errors = self._error_callbacks(applied, now)
                await enqueue(conn, errors, now=now)
        except BaseException:
            self._records = batch + self._records
            raise
        for r in applied:
            if r.next_state == DELIVERED:
                metrics.DELIVERED_MESSAGES.inc()
            elif r.next_state != PENDING:
                metrics.CALLBACK_FINAL.labels(r.next_state).inc()
            if r.next_state == FAILED:
                log.warning("callbacks.failed", outbox_id=r.message.id, recipient=r.message.recipient,
                            endpoint_type=r.message.endpoint_type, request_id=r.message.request_id,
                            error=r.error)
        if errors or any(r.next_state == PENDING for r in applied):
            # Error callbacks are due now; a scheduled retry makes the claim loop (which may be
            # backed off) read the next due time again.
            self.wakeup.set()

    def _error_callbacks(self, applied: Sequence[AttemptRecord], now: datetime) -> list[OutboundMessage]:
        out: list[OutboundMessage] = []
        for r in applied:
            if r.next_state != FAILED:
                continue
            m = r.message
            if r.url is None or (r.error or "").startswith("undeliverable"):
                code, detail = ErrorCode.DESTINATION_FSP_ERROR, (r.error or "").removeprefix("undeliverable: ")
            elif r.status is not None:
                code, detail = ErrorCode.DESTINATION_COMMUNICATION_ERROR, f"{m.recipient} answered HTTP {r.status}"
            else:
                code = ErrorCode.DESTINATION_COMMUNICATION_ERROR
                detail = f"{m.recipient} unreachable after {m.attempts + 1} attempts"
            msg = undeliverable_error(
                recipient=m.recipient,
                endpoint_type=m.endpoint_type,
                method=m.method,
                path=m.path,
                params=m.params,
                headers=m.headers,
                request_id=m.request_id,
                origin=m.origin,
                code=code,
                detail=detail,
                hub_name=self.settings.hub_name,
                now=now,
            )
            if msg is not None:
                out.append(msg)
        return out
