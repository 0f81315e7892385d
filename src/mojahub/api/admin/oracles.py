"""ALS admin API on the operator port (reference admin-api.md §6.1) and the hub's built-in oracle
served over the ALS Oracle REST API (§6.3) under ``/oracle``, so the hub can be the oracle of
another ALS (or its own: ``HUB_ORACLE_URL=http://<operator>/oracle``).

* ``GET /oracles?type=&currency=`` → 200 list of active oracles;
* ``POST /oracles`` → 201; an active oracle with the same type, endpoint type and currency → 400
  with errorCode 2001 (what the TTK provisioning accepts);
* ``PUT /oracles/{id}`` → 204; ``DELETE /oracles/{id}`` → 204 (soft delete).
* ``GET|POST|PUT|DELETE /oracle/participants/{Type}/{ID}`` and batch ``POST /oracle/participants``.

Bodies are read as JSON whatever the declared media type (the TTK posts them as
``application/vnd.interoperability.participants+json;version=1.0``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from starlette.requests import Request
from starlette.responses import Response

from mojahub.bootstrap import Hub
from mojahub.fspiop.body import parse_json, validate
from mojahub.fspiop.parties import PARTY_ID_TYPES, Currency, FspId, PartyIdInfo, PartyIdType, check_party_path
from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.lookup import service as lookup
from mojahub.lookup.model import Oracle, PartyKey


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Endpoint(_Body):
    value: Annotated[str, Field(min_length=1, max_length=2048)]
    endpointType: Literal["URL"]


class OracleBody(_Body):
    oracleIdType: PartyIdType
    endpoint: Endpoint
    currency: Currency | None = None
    isDefault: bool = False


class OracleEntryBody(_Body):
    fspId: FspId
    currency: Currency | None = None
    partySubIdOrType: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class OracleBatchBody(_Body):
    requestId: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    partyList: Annotated[list[PartyIdInfo], Field(min_length=1, max_length=10_000)]
    currency: Currency | None = None


ORACLE_BODY: TypeAdapter[OracleBody] = TypeAdapter(OracleBody)
ORACLE_ENTRY_BODY: TypeAdapter[OracleEntryBody] = TypeAdapter(OracleEntryBody)
ORACLE_BATCH_BODY: TypeAdapter[OracleBatchBody] = TypeAdapter(OracleBatchBody)


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _view(o: Oracle) -> dict[str, Any]:
    return {
        "oracleId": str(o.id),
        "oracleIdType": o.party_id_type,
        "endpoint": {"value": o.endpoint_value, "endpointType": o.endpoint_type},
        "currency": o.currency,
        "isDefault": o.is_default,
    }


def _spec(body: OracleBody) -> lookup.OracleSpec:
    return lookup.OracleSpec(
        party_id_type=body.oracleIdType,
        endpoint_value=body.endpoint.value,
        endpoint_type=body.endpoint.endpointType,
        currency=body.currency,
        is_default=body.isDefault,
    )


def _oracle_id(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise HubError(ErrorCode.VALIDATION_ERROR, "oracle id must be a positive integer")
    return int(text)


def _key(party_id_type: str, party_identifier: str, sub_id: str | None) -> PartyKey:
    check_party_path(party_id_type, party_identifier, sub_id)
    return PartyKey(party_id_type, party_identifier, sub_id)


def router(hub: Hub) -> APIRouter:
    r = APIRouter()

    @r.get("/oracles")
    async def get_oracles(request: Request) -> Response:
        party_id_type = request.query_params.get("type") or None
        currency = request.query_params.get("currency") or None
        if party_id_type is not None and party_id_type not in PARTY_ID_TYPES:
            raise HubError(ErrorCode.VALIDATION_ERROR, "type must be a party id type")
        async with hub.db.read() as conn:
            oracles = await lookup.list_oracles(conn, party_id_type=party_id_type, currency=currency)
        return _json([_view(o) for o in oracles])

    @r.post("/oracles")
    async def post_oracle(request: Request) -> Response:
        body = validate(ORACLE_BODY, parse_json(await request.body()))
        await lookup.create_oracle(hub.db, _spec(body), now=hub.clock.now())
        return Response(status_code=201)

    @r.put("/oracles/{oracle_id}")
    async def put_oracle(oracle_id: str, request: Request) -> Response:
        body = validate(ORACLE_BODY, parse_json(await request.body()))
        await lookup.update_oracle(hub.db, _oracle_id(oracle_id), _spec(body), now=hub.clock.now())
        return Response(status_code=204)

    @r.delete("/oracles/{oracle_id}")
    async def delete_oracle(oracle_id: str) -> Response:
        await lookup.delete_oracle(hub.db, _oracle_id(oracle_id), now=hub.clock.now())
        return Response(status_code=204)

    # -- the built-in oracle over the Oracle REST API -------------------------------------------

    @r.get("/oracle/participants/{party_id_type}/{party_identifier}")
    async def oracle_get(party_id_type: str, party_identifier: str, request: Request) -> Response:
        sub_id = request.query_params.get("partySubIdOrType") or None
        key = _key(party_id_type, party_identifier, sub_id)
        async with hub.db.read() as conn:
            entries = await lookup.builtin_lookup(conn, key, request.query_params.get("currency") or None)
        party_list = []
        for e in entries:
            item: dict[str, str] = {"fspId": e.fsp_id}
            if e.currency:
                item["currency"] = e.currency
            if e.party_sub_id:
                item["partySubIdOrType"] = e.party_sub_id
            party_list.append(item)
        return _json({"partyList": party_list})

    async def _register(party_id_type: str, party_identifier: str, request: Request) -> None:
        body = validate(ORACLE_ENTRY_BODY, parse_json(await request.body()))
        key = _key(party_id_type, party_identifier, body.partySubIdOrType)
        async with hub.db.write() as conn:
            await lookup.builtin_register(conn, key, body.fspId, body.currency, hub.clock.now())

    @r.post("/oracle/participants/{party_id_type}/{party_identifier}")
    async def oracle_post(party_id_type: str, party_identifier: str, request: Request) -> Response:
        await _register(party_id_type, party_identifier, request)
        return Response(status_code=201)

    @r.put("/oracle/participants/{party_id_type}/{party_identifier}")
    async def oracle_put(party_id_type: str, party_identifier: str, request: Request) -> Response:
        await _register(party_id_type, party_identifier, request)
        return Response(status_code=200)

    @r.delete("/oracle/participants/{party_id_type}/{party_identifier}")
    async def oracle_delete(party_id_type: str, party_identifier: str, request: Request) -> Response:
        key = _key(party_id_type, party_identifier, request.query_params.get("partySubIdOrType") or None)
        async with hub.db.write() as conn:
            removed = await lookup.builtin_remove(conn, key)
        if not removed:
            raise HubError(ErrorCode.PARTY_NOT_FOUND, http_status=404)
        return Response(status_code=204)

    @r.post("/oracle/participants")
    async def oracle_batch(request: Request) -> Response:
        body = validate(ORACLE_BATCH_BODY, parse_json(await request.body()))
        results: list[dict[str, Any]] = []
        now = hub.clock.now()
        async with hub.db.write() as conn:
            for party in body.partyList:
                key = PartyKey(party.partyIdType, party.partyIdentifier, party.partySubIdOrType)
                entry: dict[str, Any] = {"partyId": party.model_dump(mode="json", exclude_none=True)}
                if party.fspId is None:
                    entry["errorInformation"] = HubError(
                        ErrorCode.MISSING_ELEMENT, "partyId must have required property 'fspId'"
                    ).to_body()["errorInformation"]
                else:
                    await lookup.builtin_register(conn, key, party.fspId, body.currency, now)
                results.append(entry)
        return _json({"partyList": results}, status=201)

    return r
