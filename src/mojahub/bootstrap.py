"""Composition root: settings → database → services → apps and background workers.

Every context's service is built here and nowhere else; routes receive the ``Hub`` container.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from mojahub.fspiop.participants_directory import ParticipantDirectory
from mojahub.kernel.clock import Clock, SystemClock
from mojahub.lookup.service import Resolver
from mojahub.settings import Settings
from mojahub.storage.engine import Database, open_database
from mojahub.storage.outbox import LeasedMessage
from mojahub.transfers.service import TransferService

BackgroundTask = Callable[[], Awaitable[None]]


@dataclass
class Hub:
    settings: Settings
    db: Database
    clock: Clock
    started_at: datetime
    started_monotonic: float = field(default_factory=time.monotonic)
    # Long-running coroutines (callback dispatcher, expiry sweeper, window auto-close) started by
    # the server next to the HTTP apps; each stops when cancelled.
    background: list[BackgroundTask] = field(default_factory=list)
    # Hooks to close resources on shutdown (HTTP client sessions, ...).
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Set by ``notify_outbox``; the callback dispatcher waits on it between polls.
    outbox_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # Run once by the server before it serves (e.g. create the hub participant if missing).
    startup: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # "Is FSP X known and active?" for FSPIOP routes (cached; see fspiop.participants_directory).
    participants: ParticipantDirectory = field(init=False)
    # ALS party resolution: registered oracles over the Oracle REST API, else the built-in oracle.
    resolver: Resolver = field(init=False)
    # The clearing core (prepare/fulfil batcher, expiry sweeper); see _wire_transfers.
    transfers: TransferService | None = None
    # This process's dispatcher takes messages enqueued already leased to it (outbox fast path);
    # None when it runs no dispatcher.
    outbox_handoff: Callable[[Sequence[LeasedMessage]], None] | None = None

    def notify_outbox(self) -> None:
        """Wake the callback dispatcher now. Call it AFTER the transaction that enqueued outbox
        messages has committed (e.g. in the route, after the service returned), so callbacks leave
        at once instead of at the next poll (``callback_poll_interval_s``). Safe to call any
        number of times; a context service that cannot see the Hub takes this bound method as a
        plain ``Callable[[], None]`` at wiring time."""
        self.outbox_wakeup.set()

    async def close(self) -> None:
        for closer in reversed(self.closers):
            await closer()
        await self.db.dispose()


def build_hub(settings: Settings, *, clock: Clock | None = None) -> Hub:
    clock = clock or SystemClock()
    db = open_database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )
    hub = Hub(settings=settings, db=db, clock=clock, started_at=clock.now())
    _wire_contexts(hub)
    return hub


def _wire_contexts(hub: Hub) -> None:
    """Each context attaches its service (and background tasks) to the hub here."""
    _wire_callbacks(hub)
    _wire_participants(hub)
    _wire_lookup(hub)
    _wire_transfers(hub)
    _wire_settlement(hub)
    _wire_maintenance(hub)


def _wire_lookup(hub: Hub) -> None:
    """ALS: one pooled oracle HTTP client per process, closed with the hub."""
    from mojahub.lookup.oracle_client import OracleClient

    client = OracleClient(timeout_s=hub.settings.oracle_timeout_s, hub_name=hub.settings.hub_name)
    hub.resolver = Resolver(hub.db, client)
    hub.closers.append(client.close)


def _wire_participants(hub: Hub) -> None:
    from mojahub.participants import service as participants_service

    hub.participants = ParticipantDirectory(hub.db, ttl_s=hub.settings.participant_cache_ttl_s)

    async def ensure_hub_participant() -> None:
        await participants_service.ensure_hub_participant(hub.db, hub.settings.hub_name, now=hub.clock.now())

    hub.startup.append(ensure_hub_participant)

    async def sweep_funds_out() -> None:
        from mojahub.participants.funds import sweep_funds_out as sweep

        await sweep(hub.db, hub.clock, interval_s=hub.settings.funds_out_sweep_interval_s,
                    batch=hub.settings.funds_out_sweep_batch)

    hub.background.append(sweep_funds_out)


def _wire_callbacks(hub: Hub) -> None:
    """The outbox dispatcher (callbacks to DFSPs), woken by ``hub.notify_outbox()``."""
    if not hub.settings.callback_dispatch_enabled:
        # PostgreSQL: this process's notify_outbox() still wakes the other processes' dispatchers.
        from mojahub.callbacks.wake import announcer

        announce = announcer(hub.settings, hub.db, hub.outbox_wakeup)
        if announce is not None:
            hub.background.append(announce)
        return
    from mojahub.callbacks.dispatcher import Dispatcher

    dispatcher = Dispatcher(hub.settings, hub.db, hub.clock, wakeup=hub.outbox_wakeup)
    hub.background.append(dispatcher.run)
    hub.closers.append(dispatcher.close)
    hub.outbox_handoff = dispatcher.accept


def _wire_transfers(hub: Hub) -> None:
    """Transfers: the per-process position batcher (lazy) and the expiry sweeper."""
    from mojahub.fspiop.transfers import FspiopTransferRenderer
    from mojahub.transfers.service import TransferConfig

    s = hub.settings
    config = TransferConfig(
        allow_on_us=s.enable_on_us_transfers,
        confirm_to_payee=s.send_transfer_confirmation_to_payee,
        expiry_sweep_interval_s=s.expiry_sweep_interval_s,
        expiry_grace_s=s.expiry_grace_ms / 1000,
        expiry_batch_size=s.expiry_batch_size,
        batch_window_s=s.position_batch_window_ms / 1000,
        batch_max=s.position_batch_max,
        batch_in_flight=s.position_batch_in_flight,
        participant_cache_ttl_s=s.participant_cache_ttl_s,
    )
    service = TransferService(hub.db, hub.clock, FspiopTransferRenderer(s.hub_name), config,
                              notify=hub.notify_outbox, handoff=hub.outbox_handoff, lease_s=s.callback_lease_s)
    hub.transfers = service
    hub.background.append(service.run_sweeper)
    hub.closers.append(service.close)


def _wire_maintenance(hub: Hub) -> None:
    """PostgreSQL: vacuum the queue tables more often than autovacuum does (storage.maintenance)."""
    interval = hub.settings.vacuum_interval_s
    if interval is None or not hub.db.is_postgres:
        return
    from mojahub.storage.maintenance import vacuum_loop

    tables = ("outbox", "callback_attempt", "transfer", "transfer_state_change")

    async def vacuum_queue_tables() -> None:
        await vacuum_loop(hub.db, tables, interval_s=interval)

    hub.background.append(vacuum_queue_tables)


def _wire_settlement(hub: Hub) -> None:
    """Settlement: the optional automatic close of the OPEN window."""
    interval = hub.settings.settlement_window_auto_close_s
    if interval is None:
        return
    from mojahub.settlement.windows import auto_close_task

    hub.background.append(auto_close_task(hub.db, hub.clock, interval))
