"""central-ledger Admin API: participants, hub accounts, endpoints, initial position and limits,
limits, positions, accounts and funds in/out. Paths, bodies, statuses and error codes as
central-ledger (reference admin-api.md §1); amounts are exact JSON numbers.

FSPIOP headers and ``Authorization`` are ignored here (the TTK sends assorted filler).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator
from starlette.requests import Request
from starlette.responses import Response

from mojahub.api.admin.exact_json import Amount, ExactJSONResponse, json_body
from mojahub.bootstrap import Hub
from mojahub.kernel.currencies import is_currency
from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.kernel.ids import is_correlation_id
from mojahub.kernel.money import AmountError, decimal_to_units
from mojahub.participants import funds, model, service
from mojahub.participants.service import AccountBalance, Limit, ParticipantView

ADMIN_OPERATIONS = Counter(
    "moja_cl_admin_participant_operations_total",
    "Participant admin operations that changed state, by operation",
    ["operation"],
)
FUNDS_MOVEMENTS = Counter(
    "moja_cl_funds_movements_total",
    "Funds in/out requests by action and outcome",
    ["action", "outcome"],
)


# --------------------------------------------------------------------------------------------
# Request bodies (validated once compiled; errors become 3100/3101/3102)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


Name = Annotated[str, Field(min_length=2, max_length=30)]
Currency = Annotated[str, Field(min_length=3, max_length=3)]


class NewParticipant(_Body):
    name: Name
    currency: Currency
    isProxy: bool = False


class ActiveFlag(_Body):
    isActive: bool


class NewHubAccount(_Body):
    type: Annotated[str, Field(min_length=1, max_length=50)]
    currency: Currency


class NewEndpoint(_Body):
    type: Annotated[str, Field(min_length=1, max_length=64)]
    value: Annotated[str, Field(min_length=1, max_length=4096)]


class InitialLimit(_Body):
    type: Literal["NET_DEBIT_CAP"]
    value: Decimal


class InitialPositionAndLimits(_Body):
    currency: Currency
    limit: InitialLimit
    initialPosition: Decimal = Decimal(0)


class LimitBody(_Body):
    type: Literal["NET_DEBIT_CAP"]
    value: Decimal
    alarmPercentage: Decimal


class LimitUpdate(_Body):
    currency: Currency
    limit: LimitBody


class Money(_Body):
    amount: Decimal
    currency: Currency


class FundsBody(_Body):
    transferId: str
    externalReference: Annotated[str, Field(min_length=1, max_length=256)]
    action: Literal["recordFundsIn", "recordFundsOutPrepareReserve"]
    reason: Annotated[str, Field(min_length=1, max_length=512)]
    amount: Money
    extensionList: dict[str, Any] | None = None

    @field_validator("transferId")
    @classmethod
    def _transfer_id(cls, v: str) -> str:
        if not is_correlation_id(v):
            raise ValueError("must be a UUID or a ULID")
        return v


class FundsOutResolution(_Body):
    action: Literal["recordFundsOutCommit", "recordFundsOutAbort"]
    reason: Annotated[str, Field(min_length=1, max_length=512)]


_NEW_PARTICIPANT = TypeAdapter(NewParticipant)
_ACTIVE = TypeAdapter(ActiveFlag)
_HUB_ACCOUNT = TypeAdapter(NewHubAccount)
_ENDPOINT = TypeAdapter(NewEndpoint)
_INITIAL = TypeAdapter(InitialPositionAndLimits)
_LIMIT_UPDATE = TypeAdapter(LimitUpdate)
_FUNDS = TypeAdapter(FundsBody)
_FUNDS_OUT = TypeAdapter(FundsOutResolution)


def units(value: Decimal, what: str, *, positive: bool = False, non_negative: bool = False) -> int:
    """An exact amount in hub units, or 3100 naming the field."""
    try:
        result = decimal_to_units(value)
    except AmountError as exc:
        raise HubError(ErrorCode.VALIDATION_ERROR, f"{what}: {exc}") from exc
    if positive and result <= 0:
        raise HubError(ErrorCode.VALIDATION_ERROR, f"{what} must be a positive number")
    if non_negative and result < 0:
        raise HubError(ErrorCode.VALIDATION_ERROR, f"{what} must be greater than or equal to 0")
    return result


def _bool_query(value: str | None, what: str) -> bool | None:
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise HubError(ErrorCode.VALIDATION_ERROR, f"{what} must be a boolean")


# --------------------------------------------------------------------------------------------
# Rendering


def participant_json(p: ParticipantView, base_url: str) -> dict[str, Any]:
    url = f"{base_url.rstrip('/')}/participants/{p.name}"
    return {
        "name": p.name,
        "id": url,
        "created": p.created_at,
        "isActive": int(p.is_active),
        "links": {"self": url},
        "accounts": [
            {"id": a.id, "ledgerAccountType": a.ledger_account_type, "currency": a.currency,
             "isActive": int(a.is_active), "createdDate": a.created_at, "createdBy": a.created_by}
            for a in p.accounts
        ],
        "isProxy": int(p.is_proxy),
    }


def balance_json(b: AccountBalance) -> dict[str, Any]:
    return {
        "id": b.id, "ledgerAccountType": b.ledger_account_type, "currency": b.currency,
        "isActive": int(b.is_active), "value": Amount(b.value), "reservedValue": Amount(b.reserved_value),
        "changedDate": b.changed_at,
    }


def position_json(b: AccountBalance) -> dict[str, Any]:
    return {"currency": b.currency, "value": Amount(b.value), "changedDate": b.changed_at}


def limit_json(limit: Limit) -> dict[str, Any]:
    return {"type": limit.limit_type, "value": Amount(limit.value),
            "alarmPercentage": Amount(limit.alarm_percentage)}


def router(hub: Hub) -> APIRouter:
    r = APIRouter(tags=["participants"])
    db = hub.db
    base_url = hub.settings.public_url
    hub_name = hub.settings.hub_name

    def changed(operation: str, name: str | None = None) -> None:
        ADMIN_OPERATIONS.labels(operation).inc()
        hub.participants.invalidate(name)

    # -- participants ------------------------------------------------------------------------
    @r.get("/participants")
    async def list_participants(isProxy: str | None = None) -> Response:
        proxy = _bool_query(isProxy, "isProxy")
        async with db.read() as conn:
            found = await service.list_participants(conn, is_proxy=proxy)
        return ExactJSONResponse([participant_json(p, base_url) for p in found])

    @r.post("/participants", status_code=201)
    async def create_participant(request: Request) -> Response:
        body = await json_body(request, _NEW_PARTICIPANT)
        async with db.write() as conn:
            created = await service.create_participant(
                conn, hub_name=hub_name, name=body.name, currency=body.currency, is_proxy=body.isProxy,
                now=hub.clock.now(),
            )
        changed("create_participant", body.name)
        return ExactJSONResponse(participant_json(created, base_url), status_code=201)

    @r.get("/participants/limits")
    async def all_limits(currency: str | None = None, type: str | None = None) -> Response:
        async with db.read() as conn:
            found = await service.list_limits(conn, None, currency=currency, limit_type=type)
        return ExactJSONResponse(
            [{"name": lim.participant_name, "currency": lim.currency, "limit": limit_json(lim)} for lim in found]
        )

    @r.get("/participants/{name}")
    async def get_participant(name: str) -> Response:
        async with db.read() as conn:
            found = await service.get_participant(conn, name)
        return ExactJSONResponse(participant_json(found, base_url))

    @r.put("/participants/{name}")
    async def update_participant(name: str, request: Request) -> Response:
        body = await json_body(request, _ACTIVE)
        async with db.write() as conn:
            updated = await service.set_participant_active(conn, name, body.isActive)
        changed("set_participant_active", name)
        return ExactJSONResponse(participant_json(updated, base_url))

    # -- endpoints ---------------------------------------------------------------------------
    @r.post("/participants/{name}/endpoints", status_code=201)
    async def add_endpoint(name: str, request: Request) -> Response:
        body = await json_body(request, _ENDPOINT)
        async with db.write() as conn:
            await service.upsert_endpoint(conn, name, body.type, body.value, now=hub.clock.now())
        changed("upsert_endpoint")
        return Response(status_code=201)

    @r.get("/participants/{name}/endpoints")
    async def get_endpoints(name: str, type: str | None = None) -> Response:
        async with db.read() as conn:
            found = await service.list_endpoints(conn, name, type)
        if type is not None:
            return ExactJSONResponse({"type": found[0].endpoint_type, "value": found[0].value} if found else {})
        return ExactJSONResponse([{"type": e.endpoint_type, "value": e.value} for e in found])

    # -- initial position and limits, limits ------------------------------------------------
    @r.post("/participants/{name}/initialPositionAndLimits", status_code=201)
    async def initial_position_and_limits(name: str, request: Request) -> Response:
        body = await json_body(request, _INITIAL)
        limit_value = units(body.limit.value, "/requestBody/limit/value", non_negative=True)
        initial = units(body.initialPosition, "/requestBody/initialPosition")
        async with db.write() as conn:
            await service.initial_position_and_limits(
                conn, name, currency=body.currency, limit_type=body.limit.type, limit_value=limit_value,
                initial_position=initial, now=hub.clock.now(),
            )
        changed("initial_position_and_limits", name)
        return Response(status_code=201)

    @r.get("/participants/{name}/limits")
    async def participant_limits(name: str, currency: str | None = None,
                                 type: str | None = None) -> Response:
        async with db.read() as conn:
            found = await service.list_limits(conn, name, currency=currency, limit_type=type)
        return ExactJSONResponse([{"currency": lim.currency, "limit": limit_json(lim)} for lim in found])

    @r.put("/participants/{name}/limits")
    async def update_limit(name: str, request: Request) -> Response:
        body = await json_body(request, _LIMIT_UPDATE)
        value = units(body.limit.value, "/requestBody/limit/value", non_negative=True)
        alarm = units(body.limit.alarmPercentage, "/requestBody/limit/alarmPercentage", non_negative=True)
        async with db.write() as conn:
            updated = await service.update_limit(conn, name, currency=body.currency, limit_type=body.limit.type,
                                                 value=value, alarm_percentage=alarm, now=hub.clock.now())
        changed("update_limit")
        return ExactJSONResponse({"currency": updated.currency, "limit": limit_json(updated)})

    # -- positions and accounts -------------------------------------------------------------
    @r.get("/participants/{name}/positions")
    async def positions(name: str, currency: str | None = None) -> Response:
        async with db.read() as conn:
            found = await service.positions(conn, name, currency=currency)
        if currency is not None:
            return ExactJSONResponse(position_json(found[0]) if found else {})
        return ExactJSONResponse([position_json(b) for b in found])

    @r.get("/participants/{name}/accounts")
    async def accounts(name: str, currency: str | None = None) -> Response:
        async with db.read() as conn:
            found = await service.account_balances(conn, name, currency=currency)
        return ExactJSONResponse([balance_json(b) for b in found])

    @r.post("/participants/{name}/accounts", status_code=201)
    async def create_hub_account(name: str, request: Request) -> Response:
        body = await json_body(request, _HUB_ACCOUNT)
        if not is_currency(body.currency):
            raise HubError(ErrorCode.VALIDATION_ERROR, f"currency {body.currency!r} is not supported")
        async with db.write() as conn:
            updated = await service.create_hub_account(conn, hub_name=hub_name, name=name, currency=body.currency,
                                                       account_type=body.type, now=hub.clock.now())
        changed("create_hub_account", name)
        return ExactJSONResponse(participant_json(updated, base_url), status_code=201)

    @r.put("/participants/{name}/accounts/{id}")
    async def update_account(name: str, id: Annotated[int, Path(gt=0)], request: Request) -> Response:
        body = await json_body(request, _ACTIVE)
        async with db.write() as conn:
            await service.set_account_active(conn, name, id, body.isActive)
        changed("set_account_active", name)
        return Response(status_code=200)

    # -- funds in / out ---------------------------------------------------------------------
    @r.post("/participants/{name}/accounts/{id}", status_code=202)
    async def record_funds(name: str, id: Annotated[int, Path(gt=0)], request: Request) -> Response:
        body = await json_body(request, _FUNDS)
        amount = units(body.amount.amount, "/requestBody/amount/amount", positive=True)
        if not is_currency(body.amount.currency):
            raise HubError(ErrorCode.VALIDATION_ERROR, f"currency {body.amount.currency!r} is not supported")
        cmd = model.FundsCommand(
            transfer_id=body.transferId, action=body.action, amount=amount, currency=body.amount.currency,
            external_reference=body.externalReference, reason=body.reason, extension_list=body.extensionList,
        )
        try:
            async with db.write() as conn:
                outcome = await funds.record_funds(
                    conn, cmd, hub_name=hub_name, name=name, account_id=id, now=hub.clock.now(),
                    validity=timedelta(seconds=hub.settings.funds_out_validity_s),
                )
        except HubError as err:
            FUNDS_MOVEMENTS.labels(body.action, f"error_{err.code.code}").inc()
            raise
        FUNDS_MOVEMENTS.labels(body.action, outcome.value).inc()
        return Response(status_code=202)

    @r.put("/participants/{name}/accounts/{id}/transfers/{transferId}", status_code=202)
    async def resolve_funds_out(name: str, id: Annotated[int, Path(gt=0)], transferId: str,
                                request: Request) -> Response:
        body = await json_body(request, _FUNDS_OUT)
        async with db.write() as conn:
            outcome = await funds.resolve_funds_out(
                conn, hub_name=hub_name, name=name, account_id=id, transfer_id=transferId, action=body.action,
                reason=body.reason, now=hub.clock.now(),
            )
        FUNDS_MOVEMENTS.labels(body.action, outcome.value).inc()
        if outcome is funds.Outcome.EXPIRED:
            # The release above is committed; the operator learns the commit did not happen.
            raise HubError(ErrorCode.TRANSFER_EXPIRED, f"funds out {transferId} had expired; reservation released")
        return Response(status_code=202)

    return r
