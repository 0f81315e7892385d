"""Operator views of callback delivery: ``GET /callbacks`` (by request id, state, recipient),
``GET /callbacks/{id}`` (one message and every attempt) and ``POST /callbacks/{id}/retry``
(re-queue a FAILED message)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import JSONResponse, Response

from mojahub.bootstrap import Hub
from mojahub.callbacks import service
from mojahub.kernel.errors import ErrorCode, HubError

DEFAULT_LIMIT = 100


def router(hub: Hub) -> APIRouter:
    r = APIRouter(tags=["callbacks"])

    @r.get("/callbacks")
    async def list_callbacks(
        requestId: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
        state: Annotated[str | None, Query(min_length=1, max_length=16)] = None,
        recipient: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
        limit: Annotated[int, Query(ge=1)] = DEFAULT_LIMIT,
    ) -> Response:
        if limit > hub.settings.page_size_max:
            raise HubError(ErrorCode.VALIDATION_ERROR, f"limit must be at most {hub.settings.page_size_max}")
        found = await service.list_callbacks(
            hub.db, request_id=requestId, state=state, recipient=recipient, limit=limit
        )
        return JSONResponse(found)

    @r.get("/callbacks/{outbox_id}")
    async def get_callback(outbox_id: Annotated[int, Path(ge=1)]) -> Response:
        return JSONResponse(await service.get_callback(hub.db, outbox_id))

    @r.post("/callbacks/{outbox_id}/retry")
    async def retry_callback(outbox_id: Annotated[int, Path(ge=1)]) -> Response:
        view = await service.retry_callback(hub.db, outbox_id, now=hub.clock.now())
        hub.notify_outbox()
        return JSONResponse(view, status_code=202)

    return r
