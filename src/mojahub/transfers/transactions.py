"""The Transaction a transfer carries: decoded from its stored ILP packet (central-ledger
``GET /transactions/{id}``, used by operators and interchange-fee scripts).

The packet is stored exactly as the payer FSP sent it; the switch never changes it (FSPIOP §7.3),
so decoding happens only here, on demand.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.kernel import ilp
from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.transfers.service import find_ilp_packet


async def ilp_packet_of(conn: AsyncConnection, transfer_id: str) -> str | None:
    """The ``ilpPacket`` string stored for a transfer, or None for an unknown transfer."""
    return await find_ilp_packet(conn, transfer_id)


async def transaction_of(conn: AsyncConnection, transfer_id: str) -> dict[str, Any]:
    """The Transaction object embedded in a transfer's ILP packet.

    Unknown transfer: 3200 (central-ledger answers ID_NOT_FOUND). A stored packet that does not
    decode (the FSPIOP edge only checks its base64url shape): 3100 with the decoder's reason.
    """
    packet = await ilp_packet_of(conn, transfer_id)
    if packet is None:
        raise HubError(ErrorCode.ID_NOT_FOUND, f"transfer {transfer_id} not found")
    try:
        return ilp.transaction_from_packet(packet)
    except ilp.IlpError as exc:
        raise HubError(ErrorCode.VALIDATION_ERROR, f"the transfer's ILP packet cannot be decoded: {exc}") from exc
