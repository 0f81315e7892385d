""""Is FSP X known and active?" for the FSPIOP edge, answered from a small in-process cache.

Every FSPIOP request names its sender (``FSPIOP-Source``) and often its addressee; checking them
against the database on each request would cost a round trip on the hot path. Entries live
``participant_cache_ttl_s`` seconds (a setting); the operator API invalidates them in-process when
it changes a participant, and other worker processes see the change within the TTL.
Concurrent misses for one name share a single database read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from prometheus_client import Counter

from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.participants.service import ParticipantRecord, find_participant
from mojahub.storage.engine import Database

LOOKUPS = Counter(
    "moja_participant_directory_lookups_total",
    "FSPIOP edge participant directory lookups, by cache result",
    ["result"],
)


class ParticipantDirectory:
    def __init__(self, db: Database, *, ttl_s: float, max_entries: int = 10_000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, ParticipantRecord | None]] = {}
        self._inflight: dict[str, asyncio.Future[ParticipantRecord | None]] = {}

    async def lookup(self, name: str) -> ParticipantRecord | None:
        """The participant (active or not), or None when it does not exist."""
        now = self._monotonic()
        cached = self._entries.get(name)
        if cached is not None and cached[0] > now:
            LOOKUPS.labels("hit").inc()
            return cached[1]
        pending = self._inflight.get(name)
        if pending is not None:
            LOOKUPS.labels("shared").inc()
            return await asyncio.shield(pending)
        LOOKUPS.labels("miss").inc()
        future: asyncio.Future[ParticipantRecord | None] = asyncio.get_running_loop().create_future()
        self._inflight[name] = future
        try:
            async with self._db.read() as conn:
                record = await find_participant(conn, name)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        finally:
            self._inflight.pop(name, None)
        future.set_result(record)
        if self._ttl_s > 0:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[name] = (self._monotonic() + self._ttl_s, record)
        return record

    async def require_active(self, name: str, *, unknown: ErrorCode = ErrorCode.ID_NOT_FOUND,
                             inactive: ErrorCode = ErrorCode.VALIDATION_ERROR) -> ParticipantRecord:
        """The participant if it exists and is active; else ``HubError(unknown)`` (default 3200)
        or ``HubError(inactive)`` (default 3100), naming the FSP."""
        record = await self.lookup(name)
        if record is None:
            raise HubError(unknown, f"FSP {name!r} is not a participant of this hub")
        if not record.is_active:
            raise HubError(inactive, f"FSP {name!r} is inactive")
        return record

    def invalidate(self, name: str | None = None) -> None:
        """Forget one participant (or all); called by the operator API after a change commits."""
        if name is None:
            self._entries.clear()
        else:
            self._entries.pop(name, None)
