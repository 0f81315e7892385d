"""Where an attempt is kept (callbacks.store.record): a delivering attempt on its message, every
other attempt as a callback_attempt row, and a delivery whose claim was lost never dropped."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from mojahub.callbacks import store
from mojahub.callbacks.store import AttemptRecord, ClaimedMessage
from mojahub.storage.engine import Database
from mojahub.storage.outbox import DELIVERED, PENDING, OutboundMessage, callback_attempt, enqueue, outbox
from tests.support import builders as b


async def _claimed(db: Database, request_id: str) -> ClaimedMessage:
    msg = OutboundMessage(recipient="payeefsp", endpoint_type="FSPIOP_CALLBACK_URL_TRANSFER_PUT", method="PUT",
                          path=f"/transfers/{request_id}", headers={"FSPIOP-Source": "Hub"}, body=b"{}",
                          request_id=request_id)
    async with db.write() as conn:
        await enqueue(conn, [msg], now=b.T0)
    async with db.write() as conn:
        [claimed] = await store.claim(conn, now=b.T0, lease_until=b.T0 + timedelta(seconds=30), limit=10,
                                      skip_locked=db.is_postgres)
    return claimed


def _attempt(m: ClaimedMessage, *, status: int | None, state: str, error: str | None = None) -> AttemptRecord:
    return AttemptRecord(m, b.T0, "http://127.0.0.1:9/cb", status, 7, error, state, b.T0)


async def test_a_delivery_is_kept_on_its_message_and_a_failure_as_a_row(db: Database) -> None:
    first = await _claimed(db, "r-1")
    async with db.write() as conn:
        applied = await store.record(conn, [_attempt(first, status=503, state=PENDING, error="HTTP 503")])
    assert len(applied) == 1
    async with db.write() as conn:
        [again] = await store.claim(conn, now=b.T0, lease_until=b.T0 + timedelta(seconds=60), limit=10,
                                    skip_locked=db.is_postgres)
        applied = await store.record(conn, [_attempt(again, status=200, state=DELIVERED)])
    assert len(applied) == 1
    async with db.read() as conn:
        rows = (await conn.execute(select(callback_attempt.c.status))).scalars().all()
        message = (await conn.execute(select(outbox).where(outbox.c.id == first.id))).one()
        history = (await store.attempts_of(conn, [first.id]))[first.id]
        count = await store.attempt_count(conn, "r-1")
    assert rows == [503]
    assert (message.state, message.delivered_status, message.delivered_latency_ms) == (DELIVERED, 200, 7)
    assert message.delivered_url == "http://127.0.0.1:9/cb"
    assert [(a["status"], a["error"]) for a in history] == [(503, "HTTP 503"), (200, None)]
    assert count == 2


async def test_a_delivery_whose_claim_was_lost_is_recorded_as_a_row_and_applies_nothing(db: Database) -> None:
    claimed = await _claimed(db, "r-2")
    stale = ClaimedMessage(**{**{f: getattr(claimed, f) for f in ClaimedMessage.__slots__},
                              "token": claimed.token - timedelta(seconds=1)})
    async with db.write() as conn:
        applied = await store.record(conn, [_attempt(stale, status=200, state=DELIVERED)])
    assert applied == []
    async with db.read() as conn:
        rows = (await conn.execute(select(callback_attempt.c.status))).scalars().all()
        message = (await conn.execute(select(outbox).where(outbox.c.id == claimed.id))).one()
    assert rows == [200]
    assert (message.state, message.delivered_status) == (PENDING, None)
