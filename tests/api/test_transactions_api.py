from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy import insert

from mojahub.kernel import ilp
from mojahub.transfers.tables import transfer_ilp_packet
from tests.support.dfsp import serve_hub_for_test

TRANSACTION: dict[str, Any] = {
    "transactionId": "3b9e3d1a-51c4-4c0d-9a51-0c4c1d8f2e10",
    "quoteId": "7c23e80c-d078-4f66-8bd9-84f1a5a0c9a2",
    "payee": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "27713803912", "fspId": "payeefsp"},
              "name": "Zoë Ñandú"},
    "payer": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "27713803911", "fspId": "payerfsp"}},
    "amount": {"amount": "100", "currency": "USD"},
    "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"},
}


async def test_get_transaction_returns_the_embedded_transaction_json(db_url: str) -> None:
    packet = ilp.payment_packet(10000, "g.payeefsp.msisdn.27713803912", TRANSACTION)
    async with serve_hub_for_test(db_url) as running, aiohttp.ClientSession() as http:
        async with running.hub.db.write() as conn:
            await conn.execute(insert(transfer_ilp_packet).values(transfer_id="tr-api-1", ilp_packet=packet))
        async with http.get(f"{running.admin_url}/transactions/tr-api-1") as resp:
            assert resp.status == 200
            assert resp.content_type == "application/json"
            assert await resp.json() == TRANSACTION


async def test_get_transaction_for_an_unknown_transfer_is_400_3200(db_url: str) -> None:
    async with (
        serve_hub_for_test(db_url) as running,
        aiohttp.ClientSession() as http,
        http.get(f"{running.admin_url}/transactions/does-not-exist") as resp,
    ):
        assert resp.status == 400
        body = await resp.json()
    assert body["errorInformation"]["errorCode"] == "3200"
    assert "does-not-exist" in body["errorInformation"]["errorDescription"]


async def test_get_transaction_with_an_undecodable_packet_is_400_3100(db_url: str) -> None:
    async with serve_hub_for_test(db_url) as running, aiohttp.ClientSession() as http:
        async with running.hub.db.write() as conn:
            await conn.execute(insert(transfer_ilp_packet).values(transfer_id="tr-api-2", ilp_packet="DAEC"))
        async with http.get(f"{running.admin_url}/transactions/tr-api-2") as resp:
            assert resp.status == 400
            body = await resp.json()
    assert body["errorInformation"]["errorCode"] == "3100"
