"""central-ledger ``/enums`` and ``/ledgerAccountTypes`` (reference admin-api.md §3–§4)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from starlette.requests import Request
from starlette.responses import Response

from mojahub.api.admin.exact_json import ExactJSONResponse, json_body
from mojahub.bootstrap import Hub
from mojahub.ledger import model as ledger_model
from mojahub.participants import model, service

# Enumerations that are not tables here (central-ledger seeds).
TRANSFER_STATES: tuple[str, ...] = (
    "RECEIVED_PREPARE", "RESERVED", "RECEIVED_FULFIL", "RECEIVED_FULFIL_DEPENDENT", "RESERVED_FORWARDED",
    "RESERVED_TIMEOUT", "RECEIVED_REJECT", "RECEIVED_ERROR", "COMMITTED", "ABORTED_REJECTED", "ABORTED_ERROR",
    "EXPIRED_PREPARED", "EXPIRED_RESERVED", "INVALID", "FAILED", "SETTLED",
)
TRANSFER_PARTICIPANT_ROLE_TYPES: tuple[str, ...] = (
    "PAYER_DFSP", "PAYEE_DFSP", "HUB", "DFSP_SETTLEMENT", "DFSP_POSITION", "INITIATING_FSP", "COUNTER_PARTY_FSP",
)
SETTLEMENT_STATES: tuple[str, ...] = (
    "PENDING_SETTLEMENT", "PS_TRANSFERS_RECORDED", "PS_TRANSFERS_RESERVED", "PS_TRANSFERS_COMMITTED",
    "SETTLING", "SETTLED", "ABORTED",
)
SETTLEMENT_WINDOW_STATES: tuple[str, ...] = ("OPEN", "CLOSED", "PENDING_SETTLEMENT", "SETTLED", "ABORTED", "FAILED")
TRANSFER_TYPES: tuple[str, ...] = ("TRANSFER", "BULK_TRANSFER", "FX_TRANSFER")
BULK_PROCESSING_STATES: tuple[str, ...] = (
    "RECEIVED", "RECEIVED_DUPLICATE", "RECEIVED_INVALID", "ACCEPTED", "PROCESSING", "FULFIL_DUPLICATE",
    "FULFIL_INVALID", "COMPLETED", "REJECTED", "EXPIRED", "ABORTING",
)


def _numbered(names: tuple[str, ...] | list[str]) -> dict[str, int]:
    return {name: i for i, name in enumerate(names, start=1)}


def _named(names: tuple[str, ...]) -> dict[str, str]:
    return {name: name for name in names}


class NewLedgerAccountType(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, Field(min_length=2, max_length=30, pattern=r"^\w+$")]
    description: Annotated[str, Field(min_length=1, max_length=512)]
    isActive: bool
    isSettleable: bool


_NEW_LAT = TypeAdapter(NewLedgerAccountType)


def router(hub: Hub) -> APIRouter:
    r = APIRouter(tags=["enumerations"])
    db = hub.db

    @r.get("/enums")
    async def enums() -> Response:
        async with db.read() as conn:
            lats = await service.list_ledger_account_types(conn)
        body: dict[str, Any] = {
            "ledgerAccountType": {t.name: t.id for t in lats},
            "ledgerEntryType": _numbered(ledger_model.ENTRY_TYPES),
            "participantLimitType": _numbered(model.LIMIT_TYPES),
            "transferState": _named(TRANSFER_STATES),
            "transferParticipantRoleType": _numbered(TRANSFER_PARTICIPANT_ROLE_TYPES),
            "transferType": _numbered(TRANSFER_TYPES),
            "endpointType": _numbered(model.ENDPOINT_TYPES),
            "settlementState": _named(SETTLEMENT_STATES),
            "settlementWindowState": _named(SETTLEMENT_WINDOW_STATES),
            "settlementGranularity": _numbered(model.SETTLEMENT_GRANULARITIES),
            "settlementInterchange": _numbered(model.SETTLEMENT_INTERCHANGES),
            "settlementDelay": _numbered(model.SETTLEMENT_DELAYS),
            "bulkProcessingState": _numbered(BULK_PROCESSING_STATES),
            "hubAccountType": _named(model.HUB_ACCOUNT_TYPES),
            "fundsAction": _named(model.FUNDS_ACTIONS + model.FUNDS_OUT_RESOLUTIONS),
        }
        return ExactJSONResponse(body)

    @r.get("/ledgerAccountTypes")
    async def ledger_account_types() -> Response:
        async with db.read() as conn:
            found = await service.list_ledger_account_types(conn)
        return ExactJSONResponse([
            {"ledgerAccountTypeId": t.id, "name": t.name, "description": t.description,
             "isActive": int(t.is_active), "isSettleable": int(t.is_settleable), "createdDate": t.created_at}
            for t in found
        ])

    @r.post("/ledgerAccountTypes", status_code=201)
    async def create_ledger_account_type(request: Request) -> Response:
        body = await json_body(request, _NEW_LAT)
        async with db.write() as conn:
            await service.create_ledger_account_type(conn, name=body.name, description=body.description,
                                                     is_active=body.isActive, is_settleable=body.isSettleable,
                                                     now=hub.clock.now())
        return Response(status_code=201)

    return r
