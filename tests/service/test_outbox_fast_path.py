"""Outbox fast path: messages enqueued already leased to this process's dispatcher are sent
without a claim query; if they are never handed over (the process died), any dispatcher claims
them once the lease ran out. SQLite and PostgreSQL, real loopback DFSP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from mojahub.storage.engine import Database
from mojahub.storage.outbox import DELIVERED, LeasedMessage, enqueue_leased
from tests.service.test_dispatcher import (
    add_participant,
    attempts_for,
    fsp_endpoints,
    rows_for,
    running_dispatcher,
    transfer_put,
    wait_state,
)
from tests.support.dfsp import DfspServer


async def _put_leased(db: Database, transfer_id: str, lease_s: float) -> list[LeasedMessage]:
    now = datetime.now(UTC)
    async with db.write() as conn:
        return await enqueue_leased(conn, [transfer_put(transfer_id)], now=now,
                                    lease_until=now + timedelta(seconds=lease_s))


async def test_enqueue_leased_stores_the_lease_and_returns_the_row_ids(db: Database) -> None:
    leased = await _put_leased(db, "t-leased", 30.0)
    rows = await rows_for(db, "t-leased")
    assert [r.id for r in rows] == [m.id for m in leased]
    assert rows[0].claimed_until == leased[0].token
    assert rows[0].state == "PENDING"


async def test_a_handed_over_message_is_delivered_without_a_claim_query(db: Database, payer: DfspServer) -> None:
    await add_participant(db, "payer", fsp_endpoints(payer.url))
    async with running_dispatcher(db, callback_poll_interval_s=5.0, callback_idle_poll_max_s=30.0) as d:
        for _ in range(200):  # the start-up claim, then the dispatcher idles for seconds
            if d.claims >= 1:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        claims_before = d.claims
        d.accept(await _put_leased(db, "t-fast", 30.0))
        request = await payer.next_request(method="PUT", path="/transfers/t-fast", timeout=5)
        assert request.headers["FSPIOP-Destination"] == "payer"
        rows = await wait_state(db, "t-fast", DELIVERED)
        assert rows[0].attempts == 1
        assert rows[0].claimed_until is None
        assert d.claims == claims_before
        assert d.handed == 1
    assert len(await attempts_for(db, "t-fast")) == 1


async def test_a_leased_message_never_handed_over_is_claimed_after_its_lease(
    db: Database, payer: DfspServer
) -> None:
    await add_participant(db, "payer", fsp_endpoints(payer.url))
    await _put_leased(db, "t-orphan", 0.3)  # its process "died" before the hand-off
    async with running_dispatcher(db, callback_poll_interval_s=0.05, callback_idle_poll_max_s=0.1) as d:
        await payer.next_request(method="PUT", path="/transfers/t-orphan", timeout=5)
        rows = await wait_state(db, "t-orphan", DELIVERED)
        assert rows[0].attempts == 1
        assert d.handed == 0
        assert d.started == 1


async def test_a_handed_over_message_whose_lease_ran_out_is_left_to_the_claim(
    db: Database, payer: DfspServer
) -> None:
    await add_participant(db, "payer", fsp_endpoints(payer.url))
    leased = await _put_leased(db, "t-late", 0.05)
    await asyncio.sleep(0.1)
    async with running_dispatcher(db, callback_poll_interval_s=0.05, callback_idle_poll_max_s=0.1) as d:
        d.accept(leased)
        await payer.next_request(method="PUT", path="/transfers/t-late", timeout=5)
        await wait_state(db, "t-late", DELIVERED)
        assert d.handed == 0  # sent through a claim of its own, once
    assert len(await attempts_for(db, "t-late")) == 1
    assert len([r for r in payer.requests if r.path == "/transfers/t-late"]) == 1
