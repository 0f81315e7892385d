"""The FSPIOP application: a thin Starlette app on the hot path.

Each resource module exposes ``routes(hub) -> list[BaseRoute]``; this module only assembles them
and turns every failure into an FSPIOP ``errorInformation`` (never a framework default body).
The transfers routes (three requests per transfer) are matched first by ``HotRoutes``, which
calls the same endpoints with the same error handlers but without Starlette's router and
middleware stack; anything else, including a wrong method on a hot path, goes to Starlette.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mojahub.api.errors import exception_handlers
from mojahub.bootstrap import Hub

HOT_PREFIX = "/transfers"  # three requests per transfer; everything else goes through Starlette


def _health_route(hub: Hub) -> Route:
    async def health(_request: Request) -> Response:
        from mojahub.api.health import health_response

        return await health_response(hub)

    return Route("/health", health, methods=["GET"])


class HotRoutes:
    """Serve ``routes`` (plain Starlette ``Route``s) directly; fall through to ``app`` otherwise."""

    def __init__(self, app: ASGIApp, routes: Sequence[Route], handlers: dict[Any, Any]) -> None:
        self.app = app
        self._routes = [(r.path_regex, r.methods or set(), r.param_convertors, r.endpoint) for r in routes]
        self._handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method = scope["method"]
            for regex, methods, convertors, endpoint in self._routes:
                match = regex.match(scope["path"])
                if match is not None and method in methods:
                    scope["path_params"] = {k: convertors[k].convert(v) for k, v in match.groupdict().items()}
                    scope["app"] = self.app  # what Starlette's own routing would have set
                    request = Request(scope, receive, send)
                    try:
                        response = await endpoint(request)
                    except Exception as exc:
                        response = await self._handle(request, exc)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _handle(self, request: Request, exc: Exception) -> Response:
        for kind in type(exc).__mro__:
            handler = self._handlers.get(kind)
            if handler is not None:
                response: Response = await handler(request, exc)
                return response
        raise exc


def build_fspiop_app(hub: Hub) -> ASGIApp:
    from mojahub.api.fspiop import resources

    routes: list[BaseRoute] = [_health_route(hub), *resources.all_routes(hub)]
    handlers = exception_handlers()
    app = Starlette(routes=routes, exception_handlers=handlers)
    hot = [r for r in routes if isinstance(r, Route) and r.path.startswith(HOT_PREFIX)]
    return HotRoutes(app, hot, handlers)
