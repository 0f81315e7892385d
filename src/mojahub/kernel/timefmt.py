"""FSPIOP date/time text: ISO 8601 with milliseconds, and the HTTP IMF-fixdate."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

# FSPIOP DateTime: mandatory milliseconds and zone.
ISO_RE = re.compile(
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{3})"
    r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
HTTP_DATE_RE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} GMT$"
)


def format_iso(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """Parse an FSPIOP DateTime; raises ValueError when it does not match the spec pattern."""
    if not ISO_RE.match(text):
        raise ValueError(f"{text!r} is not an ISO 8601 date-time with milliseconds and zone")
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def format_http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


def parse_http_date(text: str) -> datetime:
    if not HTTP_DATE_RE.match(text.strip()):
        raise ValueError(f"{text!r} is not an RFC 7231 IMF-fixdate")
    return parsedate_to_datetime(text).astimezone(UTC)
