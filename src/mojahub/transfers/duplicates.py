"""Duplicate detection (central-ledger duplicate-check tables): a request id seen before is
compared by the hash of its body. Pure."""

from __future__ import annotations

import hashlib
from enum import Enum
from typing import Any

import orjson


class Duplicate(Enum):
    NEW = "NEW"  # first time this id is seen for this kind of request
    RESEND = "RESEND"  # same body again, the transfer is settled: answer with the current state
    IGNORE = "IGNORE"  # same body again, still in flight: the original answer will follow
    MODIFIED = "MODIFIED"  # same id, different body: 3106


def body_hash(body: Any) -> str:
    """SHA-256 of the canonical JSON of a parsed body (key order and whitespace do not matter)."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def classify(stored: str | None, incoming: str, *, settled: bool) -> Duplicate:
    if stored is None:
        return Duplicate.NEW
    if stored != incoming:
        # FSPIOP: a resend with a different body is 3106 Modified request.
        return Duplicate.MODIFIED
    return Duplicate.RESEND if settled else Duplicate.IGNORE
