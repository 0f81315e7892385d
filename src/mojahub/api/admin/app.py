"""The operator API app (FastAPI): central-ledger Admin API, Settlement API (/v2), ALS admin
(/oracles), callback delivery views, health and metrics.

Errors are always ``{"errorInformation": {...}}`` with central-ledger's codes and statuses:
validation 400/31xx, unknown resource 400/3200, unknown path 404/3002, wrong method 405/3000.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.responses import Response

from mojahub import __version__
from mojahub.api.errors import exception_handlers
from mojahub.bootstrap import Hub
from mojahub.kernel.errors import ErrorCode, HubError


def _error(err: HubError) -> JSONResponse:
    return JSONResponse(err.to_body(), status_code=err.http_status)


def request_validation_to_hub(exc: RequestValidationError) -> HubError:
    errors = list(exc.errors())
    if not errors:
        return HubError(ErrorCode.VALIDATION_ERROR)
    ranked = sorted(errors, key=lambda e: 0 if e.get("type") == "missing" else 1)
    first = ranked[0]
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    where = "/".join(loc) or "body"
    etype = str(first.get("type", ""))
    if etype == "missing":
        return HubError(ErrorCode.MISSING_ELEMENT, f"\"{where}\" is required")
    if etype.startswith("json") or etype in ("model_attributes_type", "dict_type"):
        return HubError(ErrorCode.MALFORMED_SYNTAX, f"{where}: {first.get('msg', 'malformed')}")
    return HubError(ErrorCode.VALIDATION_ERROR, f"{where}: {first.get('msg', 'invalid')}")


def build_admin_app(hub: Hub) -> FastAPI:
    from mojahub.api.admin import routers

    app = FastAPI(title="mojahub operator API", version=__version__, docs_url="/docs", redoc_url=None)
    app.state.hub = hub

    async def on_validation(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _error(request_validation_to_hub(exc))

    handlers: dict[Any, Any] = {**exception_handlers(), RequestValidationError: on_validation}
    for exc_type, handler in handlers.items():
        app.add_exception_handler(exc_type, handler)

    for router in routers.all_routers(hub):
        app.include_router(router)
    return app
