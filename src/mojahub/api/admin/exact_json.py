"""Exact JSON for the operator API: amounts are JSON numbers rendered from integer units without
ever passing through a float (``-5000``, ``12.5``), and request bodies are parsed with decimals.

Admin POSTs may arrive without ``Content-Type`` (TTK testfsp3/4): the body is parsed as JSON
regardless of the declared media type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import Response

from mojahub.fspiop.body import validate
from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.kernel.money import units_to_decimal
from mojahub.kernel.timefmt import format_iso

M = TypeVar("M")


class Amount:
    """An amount in hub units, rendered as an exact JSON number."""

    __slots__ = ("units",)

    def __init__(self, units: int) -> None:
        self.units = units

    def __repr__(self) -> str:
        return f"Amount({self.units})"


def render_number(value: Decimal) -> str:
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def dumps(value: Any) -> str:
    """Serialise plain data; ``Amount`` and ``Decimal`` become exact numbers, datetimes ISO text."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Amount):
        return render_number(units_to_decimal(value.units))
    if isinstance(value, Decimal):
        return render_number(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        return json.dumps(format_iso(value))
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise TypeError(f"cannot render {type(value).__name__} as exact JSON")  # floats included: never money


class ExactJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


async def json_body(request: Request, adapter: TypeAdapter[M]) -> M:
    """Read the body as JSON (whatever the Content-Type), decimals kept exact, and validate it."""
    raw = await request.body()
    if not raw.strip():
        raise HubError(ErrorCode.MISSING_ELEMENT, "/requestBody is required")
    try:
        data = json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HubError(ErrorCode.MALFORMED_SYNTAX, "/requestBody is not valid JSON") from exc
    if not isinstance(data, dict):
        raise HubError(ErrorCode.MALFORMED_SYNTAX, "/requestBody must be an object")
    return validate(adapter, data)
