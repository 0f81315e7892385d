"""Error handling shared by both apps: every failure becomes an ``errorInformation`` body with the
catalogue's code and status (unknown path 404/3002, wrong method 405/3000 with ``Allow``)."""

from __future__ import annotations

from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from mojahub.fspiop.errors import error_response
from mojahub.kernel.errors import ErrorCode, HubError

log = structlog.get_logger(__name__)


def http_exception_to_hub(exc: HTTPException) -> HubError:
    if exc.status_code == 404:
        return HubError(ErrorCode.UNKNOWN_URI)
    if exc.status_code == 405:
        return HubError(ErrorCode.METHOD_NOT_ALLOWED, "Method not allowed")
    return HubError(ErrorCode.CLIENT_ERROR, str(exc.detail))


async def on_hub_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubError)
    return error_response(exc)


async def on_http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    resp = error_response(http_exception_to_hub(exc))
    if exc.status_code == 405 and exc.headers and "Allow" in exc.headers:
        resp.headers["Allow"] = exc.headers["Allow"]
    return resp


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("api.unhandled", path=request.url.path, exc_info=exc)
    return error_response(HubError(ErrorCode.INTERNAL_SERVER_ERROR))


def exception_handlers() -> dict[Any, Any]:
    return {HubError: on_hub_error, HTTPException: on_http_error, Exception: on_unexpected}
