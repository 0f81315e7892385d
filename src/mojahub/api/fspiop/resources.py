"""The list of FSPIOP resource route modules (one line per resource)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from mojahub.bootstrap import Hub


def all_routes(hub: Hub) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    return routes
