"""The simulator's ILP needs: build the FSPIOP v1.x ILP payment packet carrying the Transaction,
derive fulfilment and condition from a secret and the packet (as the Mojaloop SDK does), and read
the Transaction back from a packet.

TODO(issue 4): switch the OER encoding to ``mojahub.kernel.ilp`` once the codec lands; this thin
wrapper keeps only what the simulator needs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson

# Minor-unit exponents that differ from 2 (ISO 4217); ILP amounts are in minor units.
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX",
                     "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "XXX": 4, "XTS": 4,
}
_UNITS_SCALE = 4  # hub units are 1/10,000 (kernel.money)


class IlpPacketError(ValueError):
    """A packet the simulator cannot read."""


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    stripped = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (ValueError, TypeError) as exc:
        raise IlpPacketError(f"not base64url: {exc}") from exc


def minor_units(units: int, currency: str) -> int:
    """Hub units (1/10,000) to the currency's minor units (rounded down)."""
    exponent = _EXPONENTS.get(currency, 2)
    return int(units * 10**exponent // 10**_UNITS_SCALE)


def _length_prefix(n: int) -> bytes:
    if n < 128:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _read_length(buf: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(buf):
        raise IlpPacketError("truncated length")
    first = buf[pos]
    if first < 128:
        return first, pos + 1
    size = first & 0x7F
    if size == 0 or pos + 1 + size > len(buf):
        raise IlpPacketError("bad length prefix")
    return int.from_bytes(buf[pos + 1:pos + 1 + size], "big"), pos + 1 + size


def encode_payment(amount: int, account: str, data: bytes) -> bytes:
    """ILP v1 payment packet (type 1): amount UInt64, account address, data, no extensions."""
    address = account.encode("ascii")
    content = (
        amount.to_bytes(8, "big") + _length_prefix(len(address)) + address
        + _length_prefix(len(data)) + data + b"\x00"
    )
    return b"\x01" + _length_prefix(len(content)) + content


def decode_payment(packet: bytes) -> tuple[int, str, bytes]:
    if not packet or packet[0] != 0x01:
        raise IlpPacketError("not an ILP v1 payment packet")
    length, pos = _read_length(packet, 1)
    if pos + length != len(packet) or length < 10:
        raise IlpPacketError("envelope length does not match the packet")
    amount = int.from_bytes(packet[pos:pos + 8], "big")
    pos += 8
    alen, pos = _read_length(packet, pos)
    account = packet[pos:pos + alen].decode("ascii", "replace")
    pos += alen
    dlen, pos = _read_length(packet, pos)
    if pos + dlen > len(packet):
        raise IlpPacketError("data runs past the packet")
    return amount, account, packet[pos:pos + dlen]


def transaction_packet(transaction: dict[str, Any], *, amount_minor: int, account: str) -> str:
    """base64url packet whose data is the ASCII of base64url(JSON of the Transaction)."""
    data = b64url(orjson.dumps(transaction)).encode("ascii")
    return b64url(encode_payment(amount_minor, account, data))


def transaction_from_packet(ilp_packet: str) -> dict[str, Any]:
    _amount, _account, data = decode_payment(b64url_decode(ilp_packet))
    try:
        value = orjson.loads(b64url_decode(data.decode("ascii")))
    except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IlpPacketError("packet data is not a base64url Transaction") from exc
    if not isinstance(value, dict):
        raise IlpPacketError("packet data is not a Transaction object")
    return value


def fulfilment_for(secret: bytes, ilp_packet: str) -> str:
    """HMAC-SHA256(secret, packet text) as base64url: the payee regenerates it from the packet alone."""
    return b64url(hmac.new(secret, ilp_packet.encode("ascii"), hashlib.sha256).digest())


def condition_for(fulfilment: str) -> str:
    return b64url(hashlib.sha256(b64url_decode(fulfilment)).digest())
