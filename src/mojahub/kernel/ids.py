"""Identifier formats accepted on every API (UUID of any version, or ULID)."""

from __future__ import annotations

import re
import uuid

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-7][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def is_correlation_id(value: str) -> bool:
    return bool(UUID_RE.match(value) or ULID_RE.match(value))


def new_id() -> str:
    return str(uuid.uuid4())
