"""``GET /health`` and ``GET /metrics`` on the operator port."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from mojahub.api.health import health_response
from mojahub.bootstrap import Hub


def router(hub: Hub) -> APIRouter:
    r = APIRouter()

    @r.get("/health")
    async def health() -> Response:
        return await health_response(hub)

    @r.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return r
