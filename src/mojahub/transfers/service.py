"""Transfers use cases: prepare, fulfil, payee error, expiry and GET, each ending in one write
transaction that changes transfers and positions, attaches commits to the settlement window and
enqueues what participants must hear (transactional outbox).

Commands go through a per-process ``Batcher``: a batch is one transaction and a pure fold in
arrival order over the positions locked for it. Lock order, everywhere: the batch's transfers
(id order, ``SELECT … FOR UPDATE``), then positions (account-id order, ``ledger.service.lock``),
then the settlement window — so concurrent batches and several worker processes never deadlock
— and every state change is a compare-and-set on the state it was decided from. New transfer
rows are inserted last; two workers inserting the same id lose one transaction to the primary
key and that batch is retried (it then sees the duplicate).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.kernel.clock import Clock
from mojahub.kernel.errors import ErrorCode
from mojahub.ledger import service as ledger
from mojahub.ledger.model import Posting
from mojahub.participants import service as participants
from mojahub.participants.service import ClearingAccounts
from mojahub.settlement import service as settlement
from mojahub.settlement.service import CommittedFlow
from mojahub.storage.engine import TRANSIENT_ERRORS, Database
from mojahub.storage.outbox import (
    LeasedMessage,
    OutboundMessage,
    add_enqueue,
    enqueue,
    enqueue_leased,
    leased_from,
)
from mojahub.storage.pgbatch import Batch
from mojahub.transfers import store
from mojahub.transfers.batcher import Batcher
from mojahub.transfers.model import (
    Abort,
    Command,
    Effect,
    Expire,
    Fulfil,
    Notice,
    Party,
    Prepare,
    Transfer,
    decide_abort,
    decide_expire,
    decide_fulfil,
    decide_get,
    prepare_duplicate,
    rejected_prepare,
    reserved_prepare,
    validate_prepare,
)
from mojahub.transfers.positions import Limits, check_reserve, liquidity_cover
from mojahub.transfers.state import State

log = structlog.get_logger(__name__)


class Renderer(Protocol):
    """Turns a notice into the FSPIOP request to enqueue (implemented at the FSPIOP edge)."""

    def render(self, notice: Notice, *, now: datetime) -> OutboundMessage: ...


@dataclass(frozen=True, slots=True)
class TransferConfig:
    allow_on_us: bool = False
    confirm_to_payee: bool = True
    expiry_sweep_interval_s: float = 0.5
    # Expiry aborts a reservation this long after its expiration (a fulfil is late from the
    # expiration itself): slack for DFSP clocks and a loaded hub, still well inside the
    # ~2 s that Mojaloop's collections allow.
    expiry_grace_s: float = 0.0
    expiry_batch_size: int = 500
    batch_window_s: float = 0.002
    batch_max: int = 500
    batch_in_flight: int = 1
    participant_cache_ttl_s: float = 1.0
    transaction_attempts: int = 3
    # PostgreSQL: write each batch as one statement (storage.pgbatch); False = the generic
    # SQLAlchemy path SQLite uses (same rows; tests/integration/test_pgbatch.py compares them).
    one_statement_writes: bool = True


class LostRace(Exception):
    """A compare-and-set matched fewer rows than decided: the batch is retried from a fresh read."""


class MissingWindow(Exception):
    """The one-statement path found no open-window pointer: redo the batch on the generic path."""


_RETRIED: tuple[type[Exception], ...] = (LostRace, *TRANSIENT_ERRORS)
_SWEEP_TRANSIENT: tuple[type[Exception], ...] = (*TRANSIENT_ERRORS, OSError)


class TransferService:
    def __init__(self, db: Database, clock: Clock, renderer: Renderer, config: TransferConfig | None = None,
                 *, notify: Callable[[], None] | None = None,
                 handoff: Callable[[Sequence[LeasedMessage]], None] | None = None,
                 lease_s: float = 60.0) -> None:
        self.db = db
        self.clock = clock
        self.renderer = renderer
        self.config = config or TransferConfig()
        self._notify = notify or (lambda: None)
        # Outbox fast path: with ``handoff`` (this process's dispatcher), callbacks are enqueued
        # already claimed for ``lease_s`` and handed over after commit, so they leave without a
        # claim query; a crash before sending leaves them to any dispatcher once the lease ran out.
        self._handoff = handoff
        self._lease = timedelta(seconds=lease_s)
        self._accounts: dict[tuple[str, str], tuple[float, ClearingAccounts | None]] = {}
        self._grace = timedelta(seconds=self.config.expiry_grace_s)
        self.batcher: Batcher[Command] = Batcher(
            self._run_batch, window_s=self.config.batch_window_s, max_items=self.config.batch_max,
            max_in_flight=1 if db.is_sqlite else self.config.batch_in_flight,
        )

    # -- entry points ---------------------------------------------------------------------------

    async def submit(self, command: Command) -> None:
        """Apply one command in the next batch; returns after its transaction committed."""
        await self.batcher.submit(command)

    async def execute(self, commands: Sequence[Command]) -> None:
        """Apply commands in one transaction (retried on a lost race or a transient DB error)."""
        leased: list[LeasedMessage] = []
        generic = False
        attempt = 0
        while True:
            try:
                async with self.db.write() as conn:
                    leased = await self._apply(conn, commands, now=self.clock.now(), generic=generic)
                break
            except MissingWindow:
                # record_committed recreates the pointer: redone at once on the generic path,
                # which never raises this (so it cannot loop and does not use up an attempt).
                generic = True
            except _RETRIED as exc:
                attempt += 1
                if attempt >= self.config.transaction_attempts:
                    raise
                log.warning("transfers.batch_retry", attempt=attempt, size=len(commands), error=str(exc)[:200])
                await asyncio.sleep(0.005 * attempt)
        self._after_commit(leased)

    async def _enqueue(self, conn: AsyncConnection, messages: list[OutboundMessage], *,
                       now: datetime) -> list[LeasedMessage]:
        if self._handoff is None:
            await enqueue(conn, messages, now=now)
            return []
        return await enqueue_leased(conn, messages, now=now, lease_until=now + self._lease)

    def _after_commit(self, leased: list[LeasedMessage]) -> None:
        if self._handoff is None:
            self._notify()
        elif leased:
            self._handoff(leased)

    async def get_transfer(self, transfer_id: str, requester: str) -> None:
        """GET /transfers/{id}: answer the requester from the ledger (callback via the outbox)."""
        now = self.clock.now()
        async with self.db.read() as conn:
            t = await store.find(conn, transfer_id)
        if t is not None and t.state == State.RESERVED and t.expires_at <= now - self._grace:
            # Expire on demand, so the answer never shows a reservation past its expiration.
            await self.execute([Expire(transfer_id)])
        async with self.db.write() as conn:
            if await participants.find_participant(conn, requester) is None:
                log.info("transfers.get_unknown_requester", requester=requester, transfer_id=transfer_id)
                return  # an unknown sender cannot be answered: dropped (reference behaviour)
            t = await store.find(conn, transfer_id)
            notice = decide_get(t, transfer_id, requester)
            leased = await self._enqueue(conn, [self.renderer.render(notice, now=now)], now=now)
        self._after_commit(leased)

    async def sweep_once(self) -> int:
        """Expire one bounded batch of reserved transfers past their expiration."""
        async with self.db.read() as conn:
            due = await store.due_for_expiry(conn, now=self.clock.now() - self._grace,
                                             limit=self.config.expiry_batch_size)
        if due:
            await self.execute([Expire(i) for i in due])
        return len(due)

    async def run_sweeper(self) -> None:
        """Background task: sweep every ``expiry_sweep_interval_s`` (immediately again while full)."""
        while True:
            try:
                swept = await self.sweep_once()
            except _SWEEP_TRANSIENT as exc:  # transient: rolled back, the next sweep retries
                log.warning("transfers.sweep_failed", error=str(exc)[:200])
                swept = 0
            if swept < self.config.expiry_batch_size:
                await asyncio.sleep(self.config.expiry_sweep_interval_s)

    async def close(self) -> None:
        await self.batcher.close()

    # -- batch ------------------------------------------------------------------------------------

    async def _run_batch(self, commands: Sequence[Command]) -> list[BaseException | None]:
        try:
            await self.execute(commands)
            return [None] * len(commands)
        except Exception as exc:
            if len(commands) == 1:
                log.exception("transfers.command_failed", transfer_id=commands[0].transfer_id)
                return [exc]
            log.warning("transfers.batch_failed_splitting", size=len(commands), error=str(exc)[:200])
        outcomes: list[BaseException | None] = []
        for command in commands:  # isolate the failing request; the others still complete
            try:
                await self.execute([command])
                outcomes.append(None)
            except Exception as exc:
                log.exception("transfers.command_failed", transfer_id=command.transfer_id)
                outcomes.append(exc)
        return outcomes

    async def _clearing(self, conn: AsyncConnection, keys: Iterable[tuple[str, str]]
                        ) -> dict[tuple[str, str], ClearingAccounts | None]:
        """Clearing accounts per (fsp, currency): from the short-lived cache, the misses in one query."""
        now = time.monotonic()
        ttl = self.config.participant_cache_ttl_s
        out: dict[tuple[str, str], ClearingAccounts | None] = {}
        missing: list[tuple[str, str]] = []
        for key in keys:
            hit = self._accounts.get(key)
            if hit is not None and now - hit[0] < ttl:
                out[key] = hit[1]
            else:
                missing.append(key)
        if missing:
            found = await participants.clearing_accounts_many(conn, missing)
            for key, accounts in found.items():
                self._accounts[key] = (now, accounts)
            out.update(found)
        return out

    async def _party(self, conn: AsyncConnection, accounts: ClearingAccounts | None, name: str) -> Party | None:
        if accounts is not None:
            return Party(accounts.participant_name, accounts.participant_active, accounts.position_account_id,
                         accounts.position_account_active)
        record = await participants.find_participant(conn, name)
        if record is None:
            return None
        return Party(record.name, record.is_active, None, False)

    async def _apply(self, conn: AsyncConnection, commands: Sequence[Command], *,
                     now: datetime, generic: bool = False) -> list[LeasedMessage]:
        # Account ids, activity and NDC come from a short-lived cache (participant_cache_ttl_s);
        # position and liquidity cover are read under the lock below.
        prepares = [c for c in commands if isinstance(c, Prepare)]
        keys = {(c.payer_fsp, c.currency) for c in prepares} | {(c.payee_fsp, c.currency) for c in prepares}
        accounts = await self._clearing(conn, keys)
        referenced = {c.transfer_id for c in commands if not isinstance(c, Prepare)}
        lock_ids: set[int] = set()
        settlement_ids: set[int] = set()
        for c in prepares:
            payer = accounts[(c.payer_fsp, c.currency)]
            if payer is not None:
                lock_ids.add(payer.position_account_id)
                if payer.settlement_account_id is not None:
                    # Locked with the positions: its value is the liquidity cover, which a
                    # concurrent funds-out must not change under the check.
                    settlement_ids.add(payer.settlement_account_id)
            payee = accounts[(c.payee_fsp, c.currency)]
            if c.transfer_id in referenced and payee is not None:  # prepared and resolved in one batch
                lock_ids.add(payee.position_account_id)

        # Lock order, everywhere: the batch's transfers (id order), then positions (account-id
        # order: these and both parties' of every transfer found), then the settlement window.
        existing, locked = await store.load_locking_positions(
            conn, [c.transfer_id for c in commands], lock_ids | settlement_ids)
        settlement_values = {a: locked[a].value for a in settlement_ids if a in locked}
        parties = {k: await self._party(conn, accounts[k], k[0]) for k in sorted(keys)}

        positions = {a: r.value for a, r in locked.items()}
        work: dict[str, Transfer] = dict(existing)
        created: dict[str, tuple[Transfer, str]] = {}
        changed: dict[str, tuple[State, Transfer]] = {}
        history: list[tuple[str, State, str | None]] = []
        postings: list[Posting] = []
        notices: list[Notice] = []
        committed: list[str] = []

        for cmd in commands:
            effect = self._decide(cmd, work.get(cmd.transfer_id), parties, accounts, positions, locked,
                                  settlement_values, now=now)
            for p in effect.postings:
                assert p.account_id in positions, f"posting on unlocked account {p.account_id}"
                positions[p.account_id] += p.change
            postings += effect.postings
            notices += effect.notices
            new = effect.transfer
            if new is not None:
                t = new
                if effect.created:
                    assert effect.ilp_packet is not None
                    created[t.transfer_id] = (t, effect.ilp_packet)
                elif t.transfer_id in created:
                    created[t.transfer_id] = (t, created[t.transfer_id][1])
                else:
                    expected = changed[t.transfer_id][0] if t.transfer_id in changed else existing[t.transfer_id].state
                    changed[t.transfer_id] = (expected, t)
                work[t.transfer_id] = t
                history.append((t.transfer_id, t.state, effect.reason))
                if effect.committed:
                    committed.append(t.transfer_id)

        flows = [self._flow(work[tid]) for tid in committed]
        one_statement = self.db.is_postgres and self.config.one_statement_writes and not generic
        if one_statement and not (flows and await settlement.gross_settlement_active(conn)):
            return await self._write_one_statement(conn, postings, locked, flows, created, changed, history,
                                                   notices, now=now)

        # Positions first (the values folded above), then the settlement window: record_committed
        # may post gross-settlement entries of its own on top of these.
        await ledger.post(conn, postings, now=now, locked=locked)
        if committed:
            window_id = await settlement.record_committed(conn, flows, now=now)
            for tid in committed:
                if tid in created:
                    created[tid] = (_with_window(created[tid][0], window_id), created[tid][1])
                else:
                    changed[tid] = (changed[tid][0], _with_window(changed[tid][1], window_id))

        await store.insert_new(conn, list(created.values()))
        written = await store.update_changed(conn, list(changed.values()))
        if written >= 0 and written != len(changed):
            raise LostRace(f"{len(changed) - written} of {len(changed)} transfers changed concurrently")
        await store.record_states(conn, history, now=now)
        return await self._enqueue(conn, [self.renderer.render(n, now=now) for n in notices], now=now)

    @staticmethod
    def _flow(t: Transfer) -> CommittedFlow:
        assert t.payer_account_id is not None
        assert t.payee_account_id is not None
        return CommittedFlow(t.payer_account_id, t.payee_account_id, t.currency, t.amount, transfer_id=t.transfer_id)

    async def _write_one_statement(
        self, conn: AsyncConnection, postings: list[Posting], locked: dict[int, ledger.PositionRow],
        flows: list[CommittedFlow], created: dict[str, tuple[Transfer, str]],
        changed: dict[str, tuple[State, Transfer]], history: list[tuple[str, State, str | None]],
        notices: list[Notice], *, now: datetime,
    ) -> list[LeasedMessage]:
        """PostgreSQL: the batch's writes (the same rows as the generic path above) as ONE statement
        (storage.pgbatch; docs/decisions/0006). Net settlement only: gross models take the generic path."""
        batch = Batch()
        ledger.add_post(batch, postings, now=now, locked=locked)
        window = settlement.add_committed(batch, flows) if flows else None
        committed = {f.transfer_id for f in flows if f.transfer_id is not None}
        store.add_insert_new(batch, list(created.values()), committed=committed, window=window)
        counted = store.add_update_changed(batch, list(changed.values()), committed=committed, window=window)
        store.add_record_states(batch, history, now=now)
        messages = [self.renderer.render(n, now=now) for n in notices]
        lease_until = now + self._lease if self._handoff is not None else None
        add_enqueue(batch, messages, now=now, lease_until=lease_until)
        outputs = await batch.run(conn)
        if settlement.missing_window(outputs):
            raise MissingWindow("the open settlement window pointer is missing")
        if counted is not None and outputs[counted] != len(changed):
            raise LostRace(f"{len(changed) - int(outputs[counted])} of {len(changed)} transfers changed concurrently")
        if lease_until is None or not messages:
            return []
        return leased_from(outputs, messages, lease_until)

    def _decide(self, cmd: Command, t: Transfer | None, parties: dict[tuple[str, str], Party | None],
                accounts: dict[tuple[str, str], ClearingAccounts | None], positions: dict[int, int],
                locked: dict[int, ledger.PositionRow], settlement_values: dict[int, int], *,
                now: datetime) -> Effect:
        if isinstance(cmd, Fulfil):
            return decide_fulfil(t, cmd, now=now, confirm_to_payee=self.config.confirm_to_payee)
        if isinstance(cmd, Abort):
            return decide_abort(t, cmd, now=now)
        if isinstance(cmd, Expire):
            return decide_expire(t, now=now, cutoff=now - self._grace)
        if t is not None:
            return prepare_duplicate(t, cmd)
        payer = parties[(cmd.payer_fsp, cmd.currency)]
        payee = parties[(cmd.payee_fsp, cmd.currency)]
        reason = validate_prepare(cmd, payer, payee, now=now, allow_on_us=self.config.allow_on_us)
        if reason is not None:
            return rejected_prepare(cmd, payer, payee, ErrorCode.VALIDATION_ERROR, reason, now=now)
        assert payer is not None
        assert payee is not None
        assert payer.position_account_id is not None
        acc = accounts[(cmd.payer_fsp, cmd.currency)]
        assert acc is not None
        account_id = payer.position_account_id
        settle = settlement_values.get(acc.settlement_account_id) if acc.settlement_account_id is not None else None
        limits = Limits(liquidity_cover(settle), acc.net_debit_cap)
        error = check_reserve(positions[account_id], locked[account_id].reserved_value, limits, cmd.amount)
        if error is not None:
            return rejected_prepare(cmd, payer, payee, error, None, now=now)
        return reserved_prepare(cmd, payer, payee, now=now)


def _with_window(t: Transfer, window_id: int) -> Transfer:
    from dataclasses import replace

    return replace(t, settlement_window_id=window_id)


# -- read API for other contexts and the edge (inside the caller's transaction) -------------------


async def find_transfer(conn: AsyncConnection, transfer_id: str) -> Transfer | None:
    return await store.find(conn, transfer_id)


async def find_ilp_packet(conn: AsyncConnection, transfer_id: str) -> str | None:
    """The ILP packet the payer sent with the prepare (end-to-end data, stored unchanged)."""
    return await store.ilp_packet(conn, transfer_id)


def unresolved(transfers: Iterable[Transfer]) -> list[Transfer]:
    return [t for t in transfers if t.state == State.RESERVED]
