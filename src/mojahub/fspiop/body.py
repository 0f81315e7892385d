"""Reading and validating FSPIOP bodies.

Bodies are read once as raw bytes (kept for hashing and byte-exact forwarding), parsed with
orjson and validated with pydantic models compiled once per type. Pydantic errors are mapped to
the codes Mojaloop's collections assert: a missing field is 3102, a wrong JSON type is 3101, a
value failing its pattern/enum/length is 3100; the description names the JSON path
(``/requestBody/transactionType/scenario ...``).
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request

from mojahub.kernel.errors import ErrorCode, HubError

T = TypeVar("T")

_TYPE_ERRORS = {
    "dict_type", "model_type", "model_attributes_type", "list_type", "string_type", "int_type",
    "bool_type", "float_type", "int_parsing", "bool_parsing", "float_parsing", "is_instance_of",
    "json_invalid", "json_type", "dataclass_type", "tuple_type", "none_required",
}


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise HubError(ErrorCode.TOO_LARGE_PAYLOAD, f"body larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise HubError(ErrorCode.TOO_LARGE_PAYLOAD, f"body larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    if not raw.strip():
        raise HubError(ErrorCode.MISSING_ELEMENT, "/requestBody is required")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise HubError(ErrorCode.MALFORMED_SYNTAX, f"/requestBody is not valid JSON: {exc.msg}") from exc


def _path(loc: tuple[int | str, ...]) -> str:
    return "/requestBody" + "".join(f"/{part}" for part in loc if not str(part).startswith("function-"))


def validation_error_to_hub(exc: ValidationError) -> HubError:
    """Map the first pydantic error to the FSPIOP code and a path-naming description."""
    errors = exc.errors(include_url=False)
    # Prefer the most telling error: missing > wrong type > bad value.
    ranked = sorted(
        errors,
        key=lambda e: 0 if e["type"] == "missing" else 1 if e["type"] in _TYPE_ERRORS else 2,
    )
    first = ranked[0]
    path = _path(tuple(first["loc"]))
    if first["type"] == "missing":
        parent = path.rsplit("/", 1)
        return HubError(
            ErrorCode.MISSING_ELEMENT, f"{parent[0]} must have required property '{parent[1]}'"
        )
    code = ErrorCode.MALFORMED_SYNTAX if first["type"] in _TYPE_ERRORS else ErrorCode.VALIDATION_ERROR
    return HubError(code, f"{path} {first['msg']}")


def validate(adapter: TypeAdapter[T], data: Any) -> T:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise validation_error_to_hub(exc) from exc


def validate_raw(adapter: TypeAdapter[T], raw: bytes) -> T:
    return validate(adapter, parse_json(raw))
