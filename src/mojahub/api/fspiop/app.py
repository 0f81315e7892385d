"""The FSPIOP application: a thin Starlette app on the hot path.

Each resource module exposes ``routes(hub) -> list[BaseRoute]``; this module only assembles them
and turns every failure into an FSPIOP ``errorInformation`` (never a framework default body).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mojahub.api.errors import exception_handlers
from mojahub.bootstrap import Hub


def _health_route(hub: Hub) -> Route:
    async def health(_request: Request) -> Response:
        from mojahub.api.health import health_response

        return await health_response(hub)

    return Route("/health", health, methods=["GET"])


def build_fspiop_app(hub: Hub) -> Starlette:
    from mojahub.api.fspiop import resources

    routes: list[BaseRoute] = [_health_route(hub), *resources.all_routes(hub)]

    return Starlette(routes=routes, exception_handlers=exception_handlers())
