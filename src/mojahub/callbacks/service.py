"""Operator use cases over callback delivery: what was sent for a request, which messages
failed, and re-queueing a failed message. Views are plain JSON-ready dicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mojahub.callbacks import store
from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.kernel.timefmt import format_iso
from mojahub.storage.engine import Database


def _iso(value: datetime | None) -> str | None:
    return format_iso(value) if value is not None else None


def _body_text(body: bytes | None) -> str | None:
    if body is None:
        return None
    return bytes(body).decode("utf-8", errors="replace")


def _attempt_view(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": a["id"],
        "attemptedAt": _iso(a["attempted_at"]),
        "url": a["url"],
        "status": a["status"],
        "latencyMs": a["latency_ms"],
        "error": a["error"],
    }


def _message_view(m: dict[str, Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": m["id"],
        "requestId": m["request_id"],
        "state": m["state"],
        "recipient": m["recipient"],
        "origin": m["origin"],
        "endpointType": m["endpoint_type"],
        "method": m["method"],
        "path": m["path"],
        "params": m["params"],
        "headers": m["headers"],
        "body": _body_text(m["body"]),
        "attempts": m["attempts"],
        "lastError": m["last_error"],
        "createdAt": _iso(m["created_at"]),
        "dueAt": _iso(m["due_at"]),
        "claimedUntil": _iso(m["claimed_until"]),
        "deliveredAt": _iso(m["delivered_at"]),
        "attemptLog": [_attempt_view(a) for a in attempts],
    }


async def list_callbacks(
    db: Database,
    *,
    request_id: str | None = None,
    state: str | None = None,
    recipient: str | None = None,
    limit: int,
) -> list[dict[str, Any]]:
    """Messages (with every attempt) for a request id and/or in a state, ``limit`` at most."""
    if state is not None and state not in store.STATES:
        raise HubError(ErrorCode.VALIDATION_ERROR, f"state must be one of {', '.join(store.STATES)}")
    async with db.read() as conn:
        messages = await store.find_messages(
            conn, request_id=request_id, state=state, recipient=recipient, limit=limit
        )
        attempts = await store.attempts_of(conn, [m["id"] for m in messages])
    return [_message_view(m, attempts[m["id"]]) for m in messages]


async def get_callback(db: Database, outbox_id: int) -> dict[str, Any]:
    async with db.read() as conn:
        message = await store.get_message(conn, outbox_id)
        if message is None:
            raise HubError(ErrorCode.ID_NOT_FOUND, f"callback {outbox_id} not found")
        attempts = await store.attempts_of(conn, [outbox_id])
    return _message_view(message, attempts[outbox_id])


async def retry_callback(db: Database, outbox_id: int, *, now: datetime) -> dict[str, Any]:
    """Re-queue a FAILED message (a fresh attempt budget, due now). The caller should wake the
    dispatcher afterwards (``Hub.notify_outbox``)."""
    async with db.write() as conn:
        if not await store.requeue_failed(conn, outbox_id, now=now):
            message = await store.get_message(conn, outbox_id)
            if message is None:
                raise HubError(ErrorCode.ID_NOT_FOUND, f"callback {outbox_id} not found")
            raise HubError(
                ErrorCode.CLIENT_ERROR,
                f"callback {outbox_id} is {message['state']}; only FAILED callbacks can be retried",
            )
    return await get_callback(db, outbox_id)
