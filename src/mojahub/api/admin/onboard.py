"""``POST /onboard``: apply a scheme file (JSON or YAML body) in one transaction, idempotently.

Answers 200 with what was created/changed (``{"created": n, "changed": n, "unchanged": n,
"changes": [...]}``); ``?dryRun=true`` reports without keeping anything. A bad file or a
conflict is 400 with errorInformation naming the item, and nothing is applied.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.responses import Response

from mojahub.bootstrap import Hub
from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.onboarding.scheme import parse_scheme
from mojahub.onboarding.service import onboard


def router(hub: Hub) -> APIRouter:
    r = APIRouter(tags=["onboarding"])

    @r.post("/onboard")
    async def post_onboard(request: Request, dryRun: bool = False) -> Response:
        raw = await request.body()
        if len(raw) > hub.settings.max_body_bytes:
            raise HubError(ErrorCode.TOO_LARGE_PAYLOAD, f"scheme larger than {hub.settings.max_body_bytes} bytes")
        scheme = parse_scheme(raw, source="request body")
        report = await onboard(
            hub.db, scheme, hub_name=hub.settings.hub_name, now=hub.clock.now(),
            funds_validity=timedelta(seconds=hub.settings.funds_out_validity_s), dry_run=dryRun,
        )
        if not dryRun:
            hub.participants.invalidate()
        return JSONResponse({**report.to_json(), "dryRun": dryRun})

    return r
