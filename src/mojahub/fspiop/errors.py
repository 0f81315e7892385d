"""FSPIOP error rendering: synchronous error responses and error-callback bodies."""

from __future__ import annotations

import orjson
from starlette.responses import Response

from mojahub.kernel.errors import HubError


def error_response(err: HubError) -> Response:
    return Response(
        orjson.dumps(err.to_body()),
        status_code=err.http_status,
        media_type="application/json",
    )


def error_callback_body(err: HubError) -> bytes:
    return orjson.dumps(err.to_body())
