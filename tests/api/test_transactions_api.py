from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
from bench.provision import provision
from sqlalchemy import insert

from mojahub.kernel import ilp
from mojahub.kernel.timefmt import format_http_date, format_iso
from mojahub.transfers.tables import transfer_ilp_packet
from tests.support.dfsp import running_dfsps, serve_hub_for_test

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


def _endpoints(base: str) -> dict[str, str]:
    return {
        "FSPIOP_CALLBACK_URL_TRANSFER_POST": f"{base}/transfers",
        "FSPIOP_CALLBACK_URL_TRANSFER_PUT": f"{base}/transfers/{{{{transferId}}}}",
        "FSPIOP_CALLBACK_URL_TRANSFER_ERROR": f"{base}/transfers/{{{{transferId}}}}/error",
    }


async def test_get_transaction_after_a_real_prepare_returns_the_payers_transaction(db_url: str) -> None:
    transfer_id = str(uuid.uuid4())
    packet = ilp.payment_packet(10000, "g.payeefsp.msisdn.27713803912", TRANSACTION)
    _fulfilment, condition = ilp.condition_pair(b"k" * 32, packet)
    now = datetime.now(UTC)
    prepare = {
        "transferId": transfer_id, "payerFsp": "payerfsp", "payeeFsp": "payeefsp",
        "amount": {"amount": "100", "currency": "USD"}, "ilpPacket": packet, "condition": condition,
        "expiration": format_iso(now + timedelta(seconds=60)),
    }
    headers = {
        "Content-Type": "application/vnd.interoperability.transfers+json;version=1.1",
        "Accept": "application/vnd.interoperability.transfers+json;version=1",
        "Date": format_http_date(now), "FSPIOP-Source": "payerfsp", "FSPIOP-Destination": "payeefsp",
    }
    async with (
        running_dfsps("payerfsp", "payeefsp") as dfsps,
        serve_hub_for_test(db_url) as running,
        aiohttp.ClientSession() as http,
    ):
        await provision(http, running.admin_url, {name: _endpoints(d.url) for name, d in dfsps.items()})
        async with http.post(f"{running.fspiop_url}/transfers", data=orjson.dumps(prepare), headers=headers) as resp:
            assert resp.status == 202
        forwarded = await dfsps["payeefsp"].next_request(method="POST", path="/transfers", timeout=10)
        assert forwarded.json()["ilpPacket"] == packet  # the switch never touches the packet
        async with http.get(f"{running.admin_url}/transactions/{transfer_id}") as resp:
            assert resp.status == 200
            assert await resp.json() == TRANSACTION
