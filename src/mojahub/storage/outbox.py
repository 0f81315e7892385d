"""The transactional outbox: whatever a participant must hear is written in the same database
transaction as the state change that causes it (ARCHITECTURE: "Callbacks go through a
transactional outbox"). The dispatcher in ``mojahub.callbacks`` claims and delivers the rows.

A message names its recipient (an FSP id) and the endpoint type to deliver to; the URL is resolved
from the recipient's registered endpoint template at send time, with ``params`` substituted for
``{{key}}`` placeholders. ``path`` is the FSPIOP path of the request (``/transfers/{id}/error``):
it is appended to base-URL endpoint types (quotes, transaction requests, ...) and is the
``FSPIOP-URI`` of hub-originated callbacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    insert,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.storage.metadata import BigIntPK, UtcDateTime, metadata
from mojahub.storage.pgbatch import Batch, unnest

PENDING = "PENDING"
DELIVERED = "DELIVERED"
FAILED = "FAILED"

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("claimed_until", UtcDateTime, nullable=True),
    Column("state", String(16), nullable=False, default=PENDING),
    Column("recipient", String(32), nullable=False),
    Column("endpoint_type", String(64), nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", String(1024), nullable=False),
    Column("params", JSON, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("body", LargeBinary, nullable=True),
    Column("request_id", String(128), nullable=True),
    # Who should hear about it if the message cannot be delivered (e.g. the requester of a
    # forwarded GET /parties gets an error callback); None for hub-originated notifications.
    Column("origin", String(32), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", UtcDateTime, nullable=True),
    # The delivering attempt lives on the message (no callback_attempt row: one insert fewer per
    # callback); callback_attempt holds every attempt that did not deliver.
    Column("delivered_url", Text, nullable=True),
    Column("delivered_status", Integer, nullable=True),
    Column("delivered_latency_ms", Integer, nullable=True),
    # Partial indexes: a queue's index must not make claims walk every message ever delivered.
    # (Each delivery leaves a dead PENDING entry until vacuum; a plain index scan in due order
    # marks those dead as it passes, a bitmap scan over a (state, due_at) index never did:
    # measured 15 ms per empty claim after 67k messages, docs/decisions/0006.)
    Index("ix_outbox_pending", "due_at", "id", postgresql_where=text("state = 'PENDING'"),
          sqlite_where=text("state = 'PENDING'")),
    Index("ix_outbox_delivered", "due_at", postgresql_where=text("state = 'DELIVERED'"),
          sqlite_where=text("state = 'DELIVERED'")),
    Index("ix_outbox_failed", "id", postgresql_where=text("state = 'FAILED'"),
          sqlite_where=text("state = 'FAILED'")),
    Index("ix_outbox_request", "request_id"),
)

callback_attempt = Table(
    "callback_attempt",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("outbox_id", BigIntPK, nullable=False),
    Column("request_id", String(128), nullable=True),
    Column("attempted_at", UtcDateTime, nullable=False),
    Column("url", Text, nullable=True),
    Column("status", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_callback_attempt_outbox", "outbox_id"),
    Index("ix_callback_attempt_request", "request_id"),
)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    recipient: str
    endpoint_type: str
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes | None
    params: Mapping[str, str] = field(default_factory=dict)
    request_id: str | None = None
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class LeasedMessage:
    """A message enqueued already claimed by the enqueuing process (``claimed_until`` = ``token``):
    that process's dispatcher sends it without a claim query. If the process dies first, the
    lease runs out and any dispatcher claims it as usual."""

    id: int
    token: datetime
    message: OutboundMessage


def _row(m: OutboundMessage, now: datetime, claimed_until: datetime | None) -> dict[str, object]:
    return {
        "created_at": now,
        "due_at": now,
        "claimed_until": claimed_until,
        "state": PENDING,
        "recipient": m.recipient,
        "endpoint_type": m.endpoint_type,
        "method": m.method,
        "path": m.path,
        "params": dict(m.params),
        "headers": dict(m.headers),
        "body": m.body,
        "request_id": m.request_id,
        "origin": m.origin,
        "attempts": 0,
    }


_INSERT = insert(outbox)
_INSERT_RETURNING_ID = insert(outbox).returning(outbox.c.id, sort_by_parameter_order=True)


def add_enqueue(batch: Batch, messages: Sequence[OutboundMessage], *, now: datetime,
                lease_until: datetime | None) -> str | None:
    """PostgreSQL fast path of ``enqueue``/``enqueue_leased`` (storage.pgbatch): the rows as one
    CTE of ``batch``. Returns the name of the output holding the new ids in message order (read it
    with ``leased_from``), or None when there is nothing to enqueue."""
    if not messages:
        return None
    batch.with_("outbox_rows", (
        "INSERT INTO outbox (created_at, due_at, claimed_until, state, recipient, endpoint_type, method, path, "
        "params, headers, body, request_id, origin, attempts) "
        f"SELECT {batch.arg(now, 'timestamptz')}, {batch.arg(now, 'timestamptz')}, "
        f"{batch.arg(lease_until, 'timestamptz')}, '{PENDING}', u.recipient, u.endpoint_type, u.method, "
        "u.path, u.params::json, u.headers::json, u.body, u.request_id, u.origin, 0 FROM "
        + unnest(batch, [
            ("recipient", "text", [m.recipient for m in messages]),
            ("endpoint_type", "text", [m.endpoint_type for m in messages]),
            ("method", "text", [m.method for m in messages]),
            ("path", "text", [m.path for m in messages]),
            ("params", "text", [_json(m.params) for m in messages]),
            ("headers", "text", [_json(m.headers) for m in messages]),
            ("body", "bytea", [m.body for m in messages]),
            ("request_id", "text", [m.request_id for m in messages]),
            ("origin", "text", [m.origin for m in messages]),
        ])
        + " RETURNING id"
    ))
    # Sequence values are drawn in the order INSERT … SELECT produces the rows: unnest's order.
    batch.output("outbox_ids", "ARRAY(SELECT id FROM outbox_rows ORDER BY id)")
    return "outbox_ids"


def leased_from(outputs: Mapping[str, object], messages: Sequence[OutboundMessage],
                lease_until: datetime) -> list[LeasedMessage]:
    ids = outputs["outbox_ids"]
    assert isinstance(ids, list)
    assert len(ids) == len(messages)
    return [LeasedMessage(int(i), lease_until, m) for i, m in zip(ids, messages, strict=True)]


def _json(value: Mapping[str, str]) -> str:
    return orjson.dumps(dict(value)).decode()


async def enqueue(conn: AsyncConnection, messages: Sequence[OutboundMessage], *, now: datetime) -> None:
    """Write messages to the outbox inside the caller's transaction."""
    if not messages:
        return
    await conn.execute(_INSERT, [_row(m, now, None) for m in messages])


async def enqueue_leased(
    conn: AsyncConnection, messages: Sequence[OutboundMessage], *, now: datetime, lease_until: datetime
) -> list[LeasedMessage]:
    """Write messages to the outbox inside the caller's transaction, claimed until ``lease_until``
    by the caller; returns them with their ids, to hand to this process's dispatcher AFTER the
    transaction committed."""
    if not messages:
        return []
    rows = [_row(m, now, lease_until) for m in messages]
    ids = (await conn.execute(_INSERT_RETURNING_ID, rows)).scalars().all()
    assert len(ids) == len(messages)
    return [LeasedMessage(int(i), lease_until, m) for i, m in zip(ids, messages, strict=True)]
