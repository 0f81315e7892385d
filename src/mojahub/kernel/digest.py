"""Request hashes for duplicate detection (FSPIOP §3.2.5)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def canonical_json_hash(body: Any) -> str:
    """SHA-256 of the canonical JSON of a parsed body: a resend whose bytes are laid out
    differently (key order, whitespace) is still the same request; any changed value is not."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
