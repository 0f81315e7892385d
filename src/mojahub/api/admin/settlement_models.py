"""central-ledger ``/settlementModels`` (reference admin-api.md §2)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from starlette.requests import Request
from starlette.responses import Response

from mojahub.api.admin.exact_json import ExactJSONResponse, json_body
from mojahub.bootstrap import Hub
from mojahub.participants import settlement_models as service
from mojahub.participants.settlement_models import NewSettlementModel, SettlementModel
from mojahub.settlement.service import forget_settlement_models


class SettlementModelBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, Field(min_length=2, max_length=30, pattern=r"^[A-Za-z0-9]+$")]
    settlementGranularity: Literal["GROSS", "NET"]
    settlementInterchange: Literal["BILATERAL", "MULTILATERAL"]
    settlementDelay: Literal["IMMEDIATE", "DEFERRED"]
    currency: Annotated[str, Field(min_length=3, max_length=3)] | None = None
    requireLiquidityCheck: bool
    ledgerAccountType: Annotated[str, Field(min_length=1, max_length=50)]
    settlementAccountType: Annotated[str, Field(min_length=1, max_length=50)]
    autoPositionReset: bool


class ActiveFlag(BaseModel):
    model_config = ConfigDict(extra="ignore")

    isActive: bool


_NEW = TypeAdapter(SettlementModelBody)
_ACTIVE = TypeAdapter(ActiveFlag)


def settlement_model_json(m: SettlementModel) -> dict[str, Any]:
    # central-ledger names the key ledgerAccountTypeId but puts the type's name in it.
    return {
        "settlementModelId": m.id, "name": m.name, "isActive": m.is_active,
        "settlementGranularity": m.settlement_granularity, "settlementInterchange": m.settlement_interchange,
        "settlementDelay": m.settlement_delay, "currency": m.currency,
        "requireLiquidityCheck": m.require_liquidity_check, "ledgerAccountTypeId": m.ledger_account_type,
        "autoPositionReset": m.auto_position_reset,
    }


def router(hub: Hub) -> APIRouter:
    r = APIRouter(tags=["settlement models"])
    db = hub.db

    @r.get("/settlementModels")
    async def list_models() -> Response:
        async with db.read() as conn:
            found = await service.list_settlement_models(conn)
        return ExactJSONResponse([settlement_model_json(m) for m in found])

    @r.post("/settlementModels", status_code=201)
    async def create_model(request: Request) -> Response:
        body = await json_body(request, _NEW)
        new = NewSettlementModel(
            name=body.name, settlement_granularity=body.settlementGranularity,
            settlement_interchange=body.settlementInterchange, settlement_delay=body.settlementDelay,
            currency=body.currency, require_liquidity_check=body.requireLiquidityCheck,
            ledger_account_type=body.ledgerAccountType, settlement_account_type=body.settlementAccountType,
            auto_position_reset=body.autoPositionReset,
        )
        async with db.write() as conn:
            await service.create_settlement_model(conn, new, now=hub.clock.now())
        forget_settlement_models()  # this process at once; other workers within the cache TTL
        return Response(status_code=201)

    @r.get("/settlementModels/{name}")
    async def get_model(name: str) -> Response:
        async with db.read() as conn:
            found = await service.get_settlement_model(conn, name)
        return ExactJSONResponse(settlement_model_json(found))

    @r.put("/settlementModels/{name}")
    async def update_model(name: str, request: Request) -> Response:
        body = await json_body(request, _ACTIVE)
        async with db.write() as conn:
            updated = await service.set_settlement_model_active(conn, name, body.isActive)
        forget_settlement_models()
        return ExactJSONResponse(settlement_model_json(updated))

    return r
