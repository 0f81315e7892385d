"""The list of FSPIOP resource route modules (one line per resource)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from mojahub.bootstrap import Hub


def all_routes(hub: Hub) -> list[BaseRoute]:
    from mojahub.api.fspiop import participants as participants_routes
    from mojahub.api.fspiop import parties as parties_routes
    from mojahub.api.fspiop import quotes as quotes_routes
    from mojahub.api.fspiop import transfers

    routes: list[BaseRoute] = []
    routes += transfers.routes(hub)
    routes += participants_routes.routes(hub)
    routes += parties_routes.routes(hub)
    routes += quotes_routes.routes(hub)
    return routes
