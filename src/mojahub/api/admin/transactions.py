"""``GET /transactions/{id}`` (central-ledger Admin API): the Transaction JSON inside the ILP
packet of transfer ``{id}``; unknown transfer → 400/3200."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from mojahub.bootstrap import Hub
from mojahub.transfers.transactions import transaction_of


def router(hub: Hub) -> APIRouter:
    r = APIRouter(tags=["transactions"])

    @r.get("/transactions/{transfer_id}")
    async def get_transaction(transfer_id: str) -> Response:
        async with hub.db.read() as conn:
            transaction = await transaction_of(conn, transfer_id)
        # orjson keeps the payee's key order and non-ASCII text exactly as they were encoded.
        return Response(orjson.dumps(transaction), media_type="application/json")

    return r
