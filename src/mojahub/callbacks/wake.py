"""Cross-process outbox wake-ups on PostgreSQL: ``LISTEN``/``NOTIFY`` on one channel.

Every hub process keeps one dedicated asyncpg connection (outside the SQLAlchemy pool) that
``LISTEN``s on ``mojahub_outbox``; a notification from another process sets the dispatcher's
wake-up event. The same connection sends ``NOTIFY`` (``announce``) when this process has outbox
work it cannot take itself (its claim came back full, or all its delivery slots are busy) or when
it runs no dispatcher at all. Notifications this process sent itself are ignored.

The connection is kept alive with a cheap ``SELECT 1`` every ``keepalive_s``; when it drops,
``connected`` turns False (the dispatcher then polls at ``callback_poll_interval_s`` again) and it
reconnects with a bounded backoff, waking the dispatcher once it is back (notifications sent while
it was away are lost, so a claim catches up).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog
from sqlalchemy.engine import URL

from mojahub.settings import Settings
from mojahub.storage.engine import Database

log = structlog.get_logger(__name__)

CHANNEL = "mojahub_outbox"


def asyncpg_dsn(url: URL) -> str:
    """The plain libpq DSN of a SQLAlchemy ``postgresql+asyncpg`` URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class OutboxSignal:
    def __init__(self, dsn: str, wakeup: asyncio.Event, *, keepalive_s: float = 30.0,
                 reconnect_max_s: float = 5.0) -> None:
        self.dsn = dsn
        self.wakeup = wakeup
        self.keepalive_s = keepalive_s
        self.reconnect_max_s = reconnect_max_s
        self.received = 0  # notifications from other processes (for tests and logs)
        self.sent = 0
        self._conn: asyncpg.Connection | None = None
        self._pid: int | None = None
        self._lost = asyncio.Event()
        self._lock = asyncio.Lock()  # one statement at a time on the connection
        self._want = False  # a NOTIFY is owed (sent by whoever holds the lock)

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def _on_notify(self, _conn: Any, pid: int, _channel: str, _payload: str) -> None:
        if pid == self._pid:
            return
        self.received += 1
        self.wakeup.set()

    def _on_terminate(self, _conn: Any) -> None:
        self._lost.set()

    async def run(self) -> None:
        """Listen until cancelled, reconnecting when the connection drops."""
        failures = 0
        try:
            while True:
                try:
                    await self._connect()
                    failures = 0
                    self.wakeup.set()  # anything announced while we were away: claim once
                    await self._watch()
                except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    failures += 1
                    log.warning("callbacks.listener_lost", failures=failures, exc_info=failures == 1)
                await self._drop()
                await asyncio.sleep(min(0.1 * 2 ** min(failures, 10), self.reconnect_max_s))
        finally:
            await self._drop()

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=10)
        self._lost.clear()
        conn.add_termination_listener(self._on_terminate)
        await conn.add_listener(CHANNEL, self._on_notify)
        self._pid = conn.get_server_pid()
        self._conn = conn

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), timeout=self.keepalive_s)
            if self._lost.is_set() or self._conn is None or self._conn.is_closed():
                raise ConnectionResetError("listener connection closed")
            async with self._lock:
                await self._conn.execute("SELECT 1", timeout=10)
                await self._send_owed(self._conn)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                conn.terminate()

    async def announce(self) -> None:
        """``NOTIFY`` the other processes. Calls while one is being sent coalesce into one more;
        nothing is sent while the listener is down (the others poll then)."""
        self._want = True
        conn = self._conn
        if conn is None or conn.is_closed() or self._lock.locked():
            return
        async with self._lock:
            try:
                await self._send_owed(conn)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                self._lost.set()

    async def _send_owed(self, conn: asyncpg.Connection) -> None:
        while self._want:
            self._want = False
            await conn.execute(f"NOTIFY {CHANNEL}", timeout=10)
            self.sent += 1


async def announce_on_wakeup(signal: OutboxSignal, wakeup: asyncio.Event) -> None:
    """For a process that runs no dispatcher: forward each ``notify_outbox()`` to the others."""
    listener = asyncio.create_task(signal.run(), name="callbacks-signal")
    try:
        while True:
            await wakeup.wait()
            wakeup.clear()
            await signal.announce()
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)


def announcer(settings: Settings, db: Database, wakeup: asyncio.Event) -> Callable[[], Awaitable[None]] | None:
    """The background task of a PostgreSQL process with ``callback_dispatch_enabled`` off: its
    ``notify_outbox()`` wakes the dispatchers of the other processes. None when not applicable."""
    if not (db.is_postgres and settings.callback_listen):
        return None
    # Notifications it receives need no action here: a throwaway event.
    signal = OutboxSignal(asyncpg_dsn(db.engine.url), asyncio.Event())

    async def run() -> None:
        await announce_on_wakeup(signal, wakeup)

    return run
