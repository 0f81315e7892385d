"""FSPIOP /transfers routes: parse, build a command, hand it to the transfers service, answer.

* ``POST /transfers`` → 202 after the prepare's transaction committed (accepted is durable).
* ``PUT /transfers/{ID}`` and ``PUT /transfers/{ID}/error`` → 200 once the command committed;
  business outcomes reach the DFSPs by callback.
* ``GET /transfers/{ID}`` → 202; the hub answers from the ledger by callback.

The service hands its callbacks to this process's dispatcher itself after each commit (or wakes
the dispatchers when it cannot), so the routes do not wake them again.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mojahub.bootstrap import Hub
from mojahub.fspiop.body import read_body
from mojahub.fspiop.headers import validate_headers
from mojahub.fspiop.transfers import (
    RESOURCE,
    abort_command,
    check_transfer_id,
    fulfil_command,
    prepare_command,
)
from mojahub.transfers.service import TransferService


def routes(hub: Hub) -> list[BaseRoute]:
    settings = hub.settings
    versions = settings.supported_versions
    max_bytes = settings.max_body_bytes

    def service() -> TransferService:
        svc = hub.transfers
        assert svc is not None, "transfers service not wired"
        return svc

    async def post_transfer(request: Request) -> Response:
        headers = validate_headers(RESOURCE, "POST", request.headers, has_body=True, versions=versions)
        raw = await read_body(request, max_bytes)
        await service().submit(prepare_command(headers, raw))
        return Response(status_code=202)

    async def put_or_get_transfer(request: Request) -> Response:
        transfer_id = request.path_params["transfer_id"]
        if request.method == "GET":
            headers = validate_headers(RESOURCE, "GET", request.headers, has_body=False, versions=versions)
            check_transfer_id(transfer_id)
            await service().get_transfer(transfer_id, headers.source)
            return Response(status_code=202)
        headers = validate_headers(RESOURCE, "PUT", request.headers, has_body=True, versions=versions)
        raw = await read_body(request, max_bytes)
        command = fulfil_command(
            transfer_id, headers, raw, now=hub.clock.now(),
            future_tolerance_ms=settings.fulfil_future_tolerance_ms, max_age_s=settings.fulfil_max_age_s,
        )
        await service().submit(command)
        return Response(status_code=200)

    async def put_transfer_error(request: Request) -> Response:
        headers = validate_headers(RESOURCE, "PUT", request.headers, has_body=True, versions=versions)
        raw = await read_body(request, max_bytes)
        await service().submit(abort_command(request.path_params["transfer_id"], headers, raw))
        return Response(status_code=200)

    return [
        Route("/transfers", post_transfer, methods=["POST"]),
        Route("/transfers/{transfer_id}", put_or_get_transfer, methods=["PUT", "GET"]),
        Route("/transfers/{transfer_id}/error", put_transfer_error, methods=["PUT"]),
    ]
