"""SQL of callback delivery over the outbox tables: claim due messages under a lease, record
attempts and their verdicts (fenced by the claim), release claims, operator reads and re-queues.

Claiming is safe with several dispatchers (threads of one process or many processes): on
PostgreSQL the candidate rows are locked with ``FOR UPDATE SKIP LOCKED`` and stamped with a lease
in one statement; on SQLite the same statement runs inside the database-wide write lock
(``BEGIN IMMEDIATE``). A result is only applied while the row still carries the claimer's lease
(``claimed_until`` is the fencing token), so a dispatcher whose lease ran out cannot overwrite
the outcome of the one that took the message over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.participants.tables import participant, participant_endpoint
from mojahub.storage.outbox import DELIVERED, FAILED, PENDING, callback_attempt, outbox
from mojahub.storage.pgbatch import Batch, driver, unnest

STATES: tuple[str, ...] = (PENDING, DELIVERED, FAILED)


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    id: int
    token: datetime  # claimed_until written by this claim: the fencing token
    recipient: str
    endpoint_type: str
    method: str
    path: str
    params: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes | None
    request_id: str | None
    origin: str | None
    attempts: int  # attempts made before this one


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt and the verdict on the message it implies."""

    message: ClaimedMessage
    attempted_at: datetime
    url: str | None
    status: int | None
    latency_ms: int | None
    error: str | None
    next_state: str  # PENDING (retry at ``due_at``), DELIVERED or FAILED
    due_at: datetime


async def claim(
    conn: AsyncConnection,
    *,
    now: datetime,
    lease_until: datetime,
    limit: int,
    exclude_recipients: Sequence[str] = (),
    skip_locked: bool,
) -> list[ClaimedMessage]:
    """Stamp up to ``limit`` due, unclaimed PENDING messages with a lease and return them, oldest
    due first."""
    if conn.dialect.name == "postgresql" and skip_locked:  # polled often: raw driver, prepared once
        pg = await driver(conn)
        # An ordered index scan of ix_outbox_pending marks the dead entries of delivered messages
        # as it passes (later claims skip them); the bitmap scan the planner prefers on stale
        # statistics visits every one of them each time (docs/decisions/0006).
        await pg.execute("SET LOCAL enable_bitmapscan = off")
        records = await pg.fetch(_CLAIM_SQL, lease_until, now, list(exclude_recipients), limit)
        return [m for _, m in sorted((_claimed(r, lease_until) for r in records), key=_due_order)]
    cond = and_(
        outbox.c.state == PENDING,
        outbox.c.due_at <= now,
        or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
    )
    if exclude_recipients:
        cond = and_(cond, outbox.c.recipient.not_in(list(exclude_recipients)))
    candidates = select(outbox.c.id).where(cond).order_by(outbox.c.due_at, outbox.c.id).limit(limit)
    if skip_locked:
        candidates = candidates.with_for_update(skip_locked=True)
    stmt = (
        update(outbox)
        .where(outbox.c.id.in_(candidates.scalar_subquery()))
        .values(claimed_until=lease_until)
        .returning(
            outbox.c.id,
            outbox.c.recipient,
            outbox.c.endpoint_type,
            outbox.c.method,
            outbox.c.path,
            outbox.c.params,
            outbox.c.headers,
            outbox.c.body,
            outbox.c.request_id,
            outbox.c.origin,
            outbox.c.attempts,
            outbox.c.due_at,
        )
    )
    rows = (await conn.execute(stmt)).mappings().all()
    return [m for _, m in sorted((_claimed(r, lease_until) for r in rows), key=_due_order)]


_CLAIM_SQL = (
    "UPDATE outbox SET claimed_until = $1 WHERE id IN ("
    f"SELECT id FROM outbox WHERE state = '{PENDING}' AND due_at <= $2 "
    "AND (claimed_until IS NULL OR claimed_until < $2) AND NOT (recipient = ANY($3::text[])) "
    "ORDER BY due_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) "
    "RETURNING id, recipient, endpoint_type, method, path, params, headers, body, request_id, origin, "
    "attempts, due_at"
)
_NEXT_DUE_SQL = f"SELECT min(due_at) FROM outbox WHERE state = '{PENDING}' AND due_at > $1"


def _claimed(r: Any, token: datetime) -> tuple[datetime, ClaimedMessage]:
    # JSON columns arrive decoded on both paths (SQLAlchemy registers asyncpg's json codec).
    return r["due_at"], ClaimedMessage(
        id=int(r["id"]),
        token=token,
        recipient=r["recipient"],
        endpoint_type=r["endpoint_type"],
        method=r["method"],
        path=r["path"],
        params=dict(r["params"] or {}),
        headers=dict(r["headers"] or {}),
        body=bytes(r["body"]) if r["body"] is not None else None,
        request_id=r["request_id"],
        origin=r["origin"],
        attempts=int(r["attempts"]),
    )


def _due_order(item: tuple[datetime, ClaimedMessage]) -> tuple[datetime, int]:
    return item[0], item[1].id


async def next_due(conn: AsyncConnection, *, now: datetime) -> datetime | None:
    """When the earliest PENDING message not yet due (a scheduled retry) falls due, or None.
    One index probe on ``ix_outbox_due`` (state, due_at)."""
    if conn.dialect.name == "postgresql":
        value: datetime | None = await (await driver(conn)).fetchval(_NEXT_DUE_SQL, now)
        return value
    return (
        await conn.execute(
            select(outbox.c.due_at)
            .where(and_(outbox.c.state == PENDING, outbox.c.due_at > now))
            .order_by(outbox.c.due_at)
            .limit(1)
        )
    ).scalar_one_or_none()


async def endpoints_of(conn: AsyncConnection, names: Sequence[str]) -> dict[str, dict[str, str]]:
    """Every registered endpoint of each named participant, in one query: ``{name: {type: value}}``.
    A participant with no endpoints maps to ``{}``; a name that is no participant is absent.

    (A read of the participants context's tables: the dispatcher needs all of a recipient's
    endpoint types at once and ``participants.service`` reads one type per query.)"""
    if not names:
        return {}
    rows = (
        await conn.execute(
            select(participant.c.name, participant_endpoint.c.endpoint_type, participant_endpoint.c.value)
            .select_from(
                participant.outerjoin(participant_endpoint, participant_endpoint.c.participant_id == participant.c.id)
            )
            .where(participant.c.name.in_(list(names)))
        )
    ).all()
    out: dict[str, dict[str, str]] = {}
    for name, endpoint_type, value in rows:
        types = out.setdefault(name, {})
        if endpoint_type is not None:
            types[endpoint_type] = value
    return out


async def record(conn: AsyncConnection, records: Sequence[AttemptRecord]) -> list[AttemptRecord]:
    """Apply each attempt's verdict to its message while the claim still holds, and keep the
    attempt: a delivering one on the message itself (``delivered_*``), any other as a
    ``callback_attempt`` row (also a delivery whose claim was lost: the attempt is never dropped).
    Returns the records whose verdict was applied (a lost lease applies nothing)."""
    if not records:
        return []
    if conn.dialect.name == "postgresql":
        return await _record_one_statement(conn, records)
    stmt = (
        update(outbox)
        .where(
            and_(
                outbox.c.id == bindparam("b_id"),
                outbox.c.claimed_until == bindparam("b_token"),
                outbox.c.state == PENDING,
            )
        )
        .values(
            state=bindparam("b_state"),
            attempts=outbox.c.attempts + 1,
            due_at=bindparam("b_due"),
            claimed_until=None,
            last_error=bindparam("b_error"),
            delivered_at=bindparam("b_delivered"),
            delivered_url=bindparam("b_url"),
            delivered_status=bindparam("b_status"),
            delivered_latency_ms=bindparam("b_latency"),
        )
    )
    applied: list[AttemptRecord] = []
    for r in records:  # one statement each: whether the fence held decides where the attempt goes
        delivered = r.next_state == DELIVERED
        result = await conn.execute(stmt, {
            "b_id": r.message.id,
            "b_token": r.message.token,
            "b_state": r.next_state,
            "b_due": r.due_at,
            "b_error": r.error,
            "b_delivered": r.attempted_at if delivered else None,
            "b_url": r.url if delivered else None,
            "b_status": r.status if delivered else None,
            "b_latency": r.latency_ms if delivered else None,
        })
        if result.rowcount == 1:
            applied.append(r)
    kept = {id(r) for r in applied if r.next_state == DELIVERED}
    rows = [_attempt_row(r) for r in records if id(r) not in kept]
    if rows:
        await conn.execute(callback_attempt.insert(), rows)
    return applied


def _attempt_row(r: AttemptRecord) -> dict[str, Any]:
    return {"outbox_id": r.message.id, "request_id": r.message.request_id, "attempted_at": r.attempted_at,
            "url": r.url, "status": r.status, "latency_ms": r.latency_ms, "error": r.error}


async def _record_one_statement(conn: AsyncConnection, records: Sequence[AttemptRecord]) -> list[AttemptRecord]:
    """PostgreSQL form of ``record`` (storage.pgbatch): fenced verdicts and the attempts that are
    not kept on their message, in one statement; the ids the verdict was applied to come back."""
    batch = Batch()
    # The attempts once, as a plain CTE both writes read.
    batch.with_("finished", "SELECT * FROM " + unnest(batch, [
        ("id", "int8", [r.message.id for r in records]),
        ("token", "timestamptz", [r.message.token for r in records]),
        ("request_id", "text", [r.message.request_id for r in records]),
        ("state", "text", [r.next_state for r in records]),
        ("due_at", "timestamptz", [r.due_at for r in records]),
        ("delivered", "bool", [r.next_state == DELIVERED for r in records]),
        ("at", "timestamptz", [r.attempted_at for r in records]),
        ("url", "text", [r.url for r in records]),
        ("status", "int4", [r.status for r in records]),
        ("latency_ms", "int4", [r.latency_ms for r in records]),
        ("error", "text", [r.error for r in records]),
    ]))
    batch.with_("verdicts", (
        "UPDATE outbox AS o SET state = u.state, attempts = o.attempts + 1, due_at = u.due_at, "
        "claimed_until = NULL, last_error = u.error, delivered_at = CASE WHEN u.delivered THEN u.at END, "
        "delivered_url = CASE WHEN u.delivered THEN u.url END, "
        "delivered_status = CASE WHEN u.delivered THEN u.status END, "
        "delivered_latency_ms = CASE WHEN u.delivered THEN u.latency_ms END FROM finished AS u "
        f"WHERE o.id = u.id AND o.claimed_until = u.token AND o.state = '{PENDING}' RETURNING o.id"
    ))
    batch.with_("attempts", (
        "INSERT INTO callback_attempt (outbox_id, request_id, attempted_at, url, status, latency_ms, error) "
        "SELECT u.id, u.request_id, u.at, u.url, u.status, u.latency_ms, u.error FROM finished AS u "
        "WHERE NOT u.delivered OR u.id NOT IN (SELECT id FROM verdicts)"
    ))
    batch.output("applied", "ARRAY(SELECT id FROM verdicts)")
    applied = set((await batch.run(conn))["applied"])
    return [r for r in records if r.message.id in applied]


async def release(conn: AsyncConnection, messages: Sequence[ClaimedMessage]) -> None:
    """Give claimed messages back (not sent): any dispatcher may take them again at once."""
    if not messages:
        return
    await conn.execute(
        update(outbox)
        .where(
            and_(
                outbox.c.id == bindparam("b_id"),
                outbox.c.claimed_until == bindparam("b_token"),
                outbox.c.state == PENDING,
            )
        )
        .values(claimed_until=None),
        [{"b_id": m.id, "b_token": m.token} for m in messages],
    )


async def purge_delivered(conn: AsyncConnection, *, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` DELIVERED messages delivered before ``before``, with their attempts.
    (A delivered message's ``due_at`` is its delivery time, so the state/due index finds them.)"""
    ids = list(
        (
            await conn.execute(
                select(outbox.c.id)
                .where(and_(outbox.c.state == DELIVERED, outbox.c.due_at < before))
                .order_by(outbox.c.due_at)
                .limit(limit)
            )
        ).scalars()
    )
    if not ids:
        return 0
    await conn.execute(delete(callback_attempt).where(callback_attempt.c.outbox_id.in_(ids)))
    await conn.execute(delete(outbox).where(outbox.c.id.in_(ids)))
    return len(ids)


async def backlog(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).where(outbox.c.state == PENDING))).scalar_one())


# --- operator views -------------------------------------------------------------------------

_MESSAGE_COLUMNS = (
    outbox.c.id,
    outbox.c.created_at,
    outbox.c.due_at,
    outbox.c.claimed_until,
    outbox.c.state,
    outbox.c.recipient,
    outbox.c.endpoint_type,
    outbox.c.method,
    outbox.c.path,
    outbox.c.params,
    outbox.c.headers,
    outbox.c.body,
    outbox.c.request_id,
    outbox.c.origin,
    outbox.c.attempts,
    outbox.c.last_error,
    outbox.c.delivered_at,
)


async def find_messages(
    conn: AsyncConnection,
    *,
    request_id: str | None,
    state: str | None,
    recipient: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    stmt = select(*_MESSAGE_COLUMNS)
    if request_id is not None:
        stmt = stmt.where(outbox.c.request_id == request_id)
    if state is not None:
        stmt = stmt.where(outbox.c.state == state)
    if recipient is not None:
        stmt = stmt.where(outbox.c.recipient == recipient)
    # A request's history reads oldest first; an operator's list of failures newest first.
    order = outbox.c.id.asc() if request_id is not None else outbox.c.id.desc()
    rows = (await conn.execute(stmt.order_by(order).limit(limit))).mappings().all()
    return [dict(r) for r in rows]


async def get_message(conn: AsyncConnection, outbox_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(select(*_MESSAGE_COLUMNS).where(outbox.c.id == outbox_id))).mappings().first()
    return dict(row) if row is not None else None


async def attempts_of(conn: AsyncConnection, outbox_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in outbox_ids}
    if not outbox_ids:
        return out
    rows = (
        await conn.execute(
            select(
                callback_attempt.c.id,
                callback_attempt.c.outbox_id,
                callback_attempt.c.attempted_at,
                callback_attempt.c.url,
                callback_attempt.c.status,
                callback_attempt.c.latency_ms,
                callback_attempt.c.error,
            )
            .where(callback_attempt.c.outbox_id.in_(list(outbox_ids)))
            .order_by(callback_attempt.c.id)
        )
    ).mappings().all()
    for r in rows:
        out[int(r["outbox_id"])].append(dict(r))
    # The delivering attempt is kept on the message (``record``); it is the last one.
    delivered = (
        await conn.execute(
            select(outbox.c.id, outbox.c.delivered_at, outbox.c.delivered_url, outbox.c.delivered_status,
                   outbox.c.delivered_latency_ms)
            .where(and_(outbox.c.id.in_(list(outbox_ids)), outbox.c.delivered_status.is_not(None)))
        )
    ).all()
    for d in delivered:
        out[int(d.id)].append({"id": None, "outbox_id": int(d.id), "attempted_at": d.delivered_at,
                               "url": d.delivered_url, "status": d.delivered_status,
                               "latency_ms": d.delivered_latency_ms, "error": None})
    return out


async def attempt_count(conn: AsyncConnection, request_id: str | None = None) -> int:
    """Attempts recorded (for one request or all): attempt rows plus deliveries kept on their message."""
    rows = select(func.count()).select_from(callback_attempt)
    kept = select(func.count()).select_from(outbox).where(outbox.c.delivered_status.is_not(None))
    if request_id is not None:
        rows = rows.where(callback_attempt.c.request_id == request_id)
        kept = kept.where(outbox.c.request_id == request_id)
    return int((await conn.execute(rows)).scalar_one()) + int((await conn.execute(kept)).scalar_one())


async def requeue_failed(conn: AsyncConnection, outbox_id: int, *, now: datetime) -> bool:
    """FAILED → PENDING, due now, with a fresh attempt budget; False when the message is not FAILED."""
    result = await conn.execute(
        update(outbox)
        .where(and_(outbox.c.id == outbox_id, outbox.c.state == FAILED))
        .values(state=PENDING, due_at=now, claimed_until=None, attempts=0)
    )
    return result.rowcount == 1
