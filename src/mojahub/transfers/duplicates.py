"""Duplicate detection (central-ledger duplicate-check tables): a request id seen before is
compared by the hash of its body. Pure."""

from __future__ import annotations

from enum import Enum

from mojahub.kernel.digest import canonical_json_hash


class Duplicate(Enum):
    NEW = "NEW"  # first time this id is seen for this kind of request
    RESEND = "RESEND"  # same body again, the transfer is settled: answer with the current state
    IGNORE = "IGNORE"  # same body again, still in flight: the original answer will follow
    MODIFIED = "MODIFIED"  # same id, different body: 3106


body_hash = canonical_json_hash


def classify(stored: str | None, incoming: str, *, settled: bool) -> Duplicate:
    if stored is None:
        return Duplicate.NEW
    if stored != incoming:
        # FSPIOP: a resend with a different body is 3106 Modified request.
        return Duplicate.MODIFIED
    return Duplicate.RESEND if settled else Duplicate.IGNORE
