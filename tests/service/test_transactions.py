from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from mojahub.kernel import ilp
from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.storage.engine import Database
from mojahub.transfers.tables import transfer_ilp_packet
from mojahub.transfers.transactions import ilp_packet_of, transaction_of

VECTORS: dict[str, Any] = json.loads((Path(__file__).parents[1] / "unit" / "test_ilp_vectors.json").read_text())


async def _store_packet(db: Database, transfer_id: str, packet: str) -> None:
    async with db.write() as conn:
        await conn.execute(insert(transfer_ilp_packet).values(transfer_id=transfer_id, ilp_packet=packet))


@pytest.mark.parametrize("vector", [v for v in VECTORS["v1_payment"] if "transaction" in v], ids=["usd", "unicode"])
async def test_transaction_is_decoded_from_the_stored_packet(db: Database, vector: dict[str, Any]) -> None:
    await _store_packet(db, "tr-1", vector["ilpPacket_base64url"])
    async with db.read() as conn:
        assert await transaction_of(conn, "tr-1") == vector["transaction"]
        assert await ilp_packet_of(conn, "tr-1") == vector["ilpPacket_base64url"]


async def test_unknown_transfer_is_3200(db: Database) -> None:
    async with db.read() as conn:
        assert await ilp_packet_of(conn, "nope") is None
        with pytest.raises(HubError) as caught:
            await transaction_of(conn, "nope")
    assert caught.value.code is ErrorCode.ID_NOT_FOUND


async def test_undecodable_stored_packet_is_3100_with_the_reason(db: Database) -> None:
    not_json = ilp.b64url_encode(ilp.encode_payment(ilp.IlpPayment(amount=1, account="g.a", data=b"AAAA")))
    await _store_packet(db, "tr-bad", not_json)
    await _store_packet(db, "tr-garbage", "AQID")
    async with db.read() as conn:
        for transfer_id, reason in (("tr-bad", "JSON"), ("tr-garbage", "truncated")):
            with pytest.raises(HubError) as caught:
                await transaction_of(conn, transfer_id)
            assert caught.value.code is ErrorCode.VALIDATION_ERROR
            assert reason in caught.value.description
