"""The FSPIOP application: a thin Starlette app on the hot path.

Each resource module exposes ``routes(hub) -> list[BaseRoute]``; this module only assembles them
and turns every failure into an FSPIOP ``errorInformation`` (never a framework default body).
"""

from __future__ import annotations

from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mojahub.bootstrap import Hub
from mojahub.fspiop.errors import error_response
from mojahub.kernel.errors import ErrorCode, HubError

log = structlog.get_logger(__name__)


def _health_route(hub: Hub) -> Route:
    async def health(_request: Request) -> Response:
        from mojahub.api.health import health_response

        return await health_response(hub)

    return Route("/health", health, methods=["GET"])


def build_fspiop_app(hub: Hub) -> Starlette:
    from mojahub.api.fspiop import resources

    routes: list[BaseRoute] = [_health_route(hub), *resources.all_routes(hub)]

    async def on_hub_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HubError)
        return error_response(exc)

    async def on_http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return error_response(HubError(ErrorCode.UNKNOWN_URI))
        if exc.status_code == 405:
            resp = error_response(HubError(ErrorCode.METHOD_NOT_ALLOWED, "Method not allowed"))
            if exc.headers and "Allow" in exc.headers:
                resp.headers["Allow"] = exc.headers["Allow"]
            return resp
        return error_response(HubError(ErrorCode.CLIENT_ERROR, str(exc.detail)))

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("fspiop.unhandled", path=request.url.path, exc_info=exc)
        return error_response(HubError(ErrorCode.INTERNAL_SERVER_ERROR))

    handlers: dict[Any, Any] = {
        HubError: on_hub_error,
        HTTPException: on_http_error,
        Exception: on_unexpected,
    }
    return Starlette(routes=routes, exception_handlers=handlers)
