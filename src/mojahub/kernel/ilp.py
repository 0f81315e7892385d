"""Interledger pieces FSPIOP carries: the OER packet codec, condition and fulfilment.

Pure and byte-exact with the JS ``ilp-packet`` library Mojaloop uses (tests run every vector in
``reference/ilp-vectors.json`` both ways):

* ILP v1 payment packet (FSPIOP v1.x ``ilpPacket``): type ``0x01``, a length-prefixed envelope
  holding an 8-byte big-endian amount, a var-length ASCII ILP address, var-length ``data`` (the
  ASCII of base64url(Transaction JSON)) and the extensions field (``0x00`` = none).
* ILPv4 Prepare (``0x0c``, what v2.0 SDKs may emit): amount, 17-character GeneralizedTime
  ``expiresAt`` (``YYYYMMDDHHmmssSSS``, UTC), 32-byte execution condition, destination, data.

OER length prefixes: one byte below 128, else ``0x80 | n`` followed by ``n`` big-endian bytes.
Decoding is strict (canonical prefixes only, no bytes after the envelope) and every failure is
an ``IlpError`` with a message saying what was wrong and where.

Condition and fulfilment (FSPIOP §7): ``fulfilment`` is 32 bytes, ``condition = SHA-256(
fulfilment)``, both travel as base64url without padding (43 characters).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

TYPE_ILP_PAYMENT = 0x01
TYPE_ILP_PREPARE = 0x0C

MAX_UINT64 = 2**64 - 1
MAX_DATA_BYTES = 32767  # ASN.1: data OCTET STRING (SIZE (0..32767))
MAX_ADDRESS_BYTES = 1023  # ILP RFC 15: an address is at most 1023 characters
MAX_LENGTH_OF_LENGTH = 4  # a length prefix longer than 4 bytes cannot describe a packet we accept
CONDITION_BYTES = 32
FULFILMENT_BYTES = 32
EXPIRES_AT_CHARS = 17

_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")
_GENERALIZED_TIME_RE = re.compile(rb"^\d{17}$")
ILP_ADDRESS_RE = re.compile(r"^(g|private|example|peer|self|test[1-3]?|local)([.][a-zA-Z0-9_~-]+)+$")


class IlpError(ValueError):
    """A packet, condition or fulfilment that cannot be decoded or encoded; the message says why."""


# --------------------------------------------------------------------------- base64url


def b64url_encode(raw: bytes) -> str:
    """base64url without padding, the spelling FSPIOP uses for packets, conditions and fulfilments."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url: only ``A-Z a-z 0-9 - _``, optional ``=`` padding (up to two)."""
    if not _B64URL_RE.match(text):
        raise IlpError("not base64url: characters outside A-Z a-z 0-9 - _")
    body = text.rstrip("=")
    if len(body) % 4 == 1:
        raise IlpError("not base64url: impossible length")
    if "=" in text and len(text) % 4 != 0:
        raise IlpError("not base64url: wrong padding")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - the checks above catch these
        raise IlpError(f"not base64url: {exc}") from exc


# --------------------------------------------------------------------------- OER primitives


def _length_prefix(length: int) -> bytes:
    if length < 0x80:
        return bytes((length,))
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _var_octets(value: bytes) -> bytes:
    return _length_prefix(len(value)) + value


class _Reader:
    """A cursor over a packet; every read checks it stays inside the buffer."""

    __slots__ = ("buf", "pos", "what")

    def __init__(self, buf: bytes, what: str) -> None:
        self.buf = buf
        self.pos = 0
        self.what = what

    def remaining(self) -> int:
        return len(self.buf) - self.pos

    def take(self, n: int, field: str) -> bytes:
        if n > self.remaining():
            raise IlpError(
                f"{self.what}: truncated in {field} (needs {n} bytes at offset {self.pos}, {self.remaining()} left)"
            )
        start = self.pos
        self.pos += n
        return self.buf[start : self.pos]

    def u8(self, field: str) -> int:
        return self.take(1, field)[0]

    def length(self, field: str) -> int:
        first = self.u8(f"{field} length")
        if first < 0x80:
            return first
        count = first & 0x7F
        if count == 0:
            raise IlpError(f"{self.what}: {field} length prefix 0x80 is not valid OER")
        if count > MAX_LENGTH_OF_LENGTH:
            raise IlpError(f"{self.what}: {field} length prefix of {count} bytes is too long")
        raw = self.take(count, f"{field} length")
        length = int.from_bytes(raw, "big")
        if length < 0x80 or raw[0] == 0:
            raise IlpError(f"{self.what}: {field} length prefix is not canonical")
        return length

    def var_octets(self, field: str) -> bytes:
        return self.take(self.length(field), field)

    def u64(self, field: str) -> int:
        return int.from_bytes(self.take(8, field), "big")


def _envelope(packet_type: int, contents: bytes) -> bytes:
    return bytes((packet_type,)) + _var_octets(contents)


def _open_envelope(packet: bytes, expected_type: int, what: str) -> _Reader:
    if not packet:
        raise IlpError(f"{what}: empty packet")
    outer = _Reader(packet, what)
    packet_type = outer.u8("type")
    if packet_type != expected_type:
        raise IlpError(f"{what}: type byte is 0x{packet_type:02x}, expected 0x{expected_type:02x}")
    contents = outer.var_octets("envelope")
    if outer.remaining():
        raise IlpError(f"{what}: {outer.remaining()} bytes after the envelope")
    return _Reader(contents, what)


def _check_amount(amount: int) -> None:
    if not 0 <= amount <= MAX_UINT64:
        raise IlpError(f"amount {amount} is outside UInt64")


def _check_data(data: bytes) -> None:
    if len(data) > MAX_DATA_BYTES:
        raise IlpError(f"data is {len(data)} bytes, at most {MAX_DATA_BYTES} allowed")


def _address_bytes(address: str, field: str) -> bytes:
    try:
        raw = address.encode("ascii")
    except UnicodeEncodeError as exc:
        raise IlpError(f"{field} must be ASCII") from exc
    if len(raw) > MAX_ADDRESS_BYTES:
        raise IlpError(f"{field} is {len(raw)} characters, at most {MAX_ADDRESS_BYTES} allowed")
    return raw


def _address_text(raw: bytes, what: str, field: str) -> str:
    if len(raw) > MAX_ADDRESS_BYTES:
        raise IlpError(f"{what}: {field} is {len(raw)} bytes, at most {MAX_ADDRESS_BYTES} allowed")
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise IlpError(f"{what}: {field} is not ASCII") from exc


def is_ilp_address(address: str) -> bool:
    """ILP RFC 15 address syntax (scheme prefix, dot-separated segments, at most 1023 chars)."""
    return len(address) <= MAX_ADDRESS_BYTES and ILP_ADDRESS_RE.match(address) is not None


# --------------------------------------------------------------------------- ILP v1 payment


@dataclass(frozen=True, slots=True)
class IlpPayment:
    """The ILP v1 ``InterledgerProtocolPaymentMessage`` FSPIOP v1.x carries in ``ilpPacket``.

    ``amount`` is in the currency's minor units (USD 1.23 -> 123), as the payee FSP wrote it.
    ``extensions`` is kept as raw bytes (``0x00`` = none) so decode/encode is byte-exact; like
    the reference library we do not interpret it.
    """

    amount: int
    account: str
    data: bytes
    extensions: bytes = b"\x00"


def encode_payment(payment: IlpPayment) -> bytes:
    _check_amount(payment.amount)
    _check_data(payment.data)
    contents = (
        payment.amount.to_bytes(8, "big")
        + _var_octets(_address_bytes(payment.account, "account"))
        + _var_octets(payment.data)
        + payment.extensions
    )
    return _envelope(TYPE_ILP_PAYMENT, contents)


def decode_payment(packet: bytes) -> IlpPayment:
    what = "ILP payment packet"
    reader = _open_envelope(packet, TYPE_ILP_PAYMENT, what)
    amount = reader.u64("amount")
    account = _address_text(reader.var_octets("account"), what, "account")
    data = reader.var_octets("data")
    if len(data) > MAX_DATA_BYTES:
        raise IlpError(f"{what}: data is {len(data)} bytes, at most {MAX_DATA_BYTES} allowed")
    extensions = reader.take(reader.remaining(), "extensions")
    return IlpPayment(amount=amount, account=account, data=data, extensions=extensions)


# --------------------------------------------------------------------------- ILPv4 Prepare


@dataclass(frozen=True, slots=True)
class IlpPrepare:
    """An ILPv4 Prepare packet. ``expires_at`` is UTC with millisecond precision."""

    amount: int
    expires_at: datetime
    execution_condition: bytes
    destination: str
    data: bytes


def _format_generalized_time(value: datetime) -> bytes:
    if value.tzinfo is None:
        raise IlpError("expires_at must be timezone-aware")
    utc = value.astimezone(UTC)
    if not 1 <= utc.year <= 9999:  # pragma: no cover - datetime itself enforces this
        raise IlpError("expires_at year out of range")
    return (utc.strftime("%Y%m%d%H%M%S") + f"{utc.microsecond // 1000:03d}").encode("ascii")


def _parse_generalized_time(raw: bytes, what: str) -> datetime:
    if not _GENERALIZED_TIME_RE.match(raw):
        raise IlpError(f"{what}: expiresAt {raw!r} is not YYYYMMDDHHmmssSSS")
    text = raw.decode("ascii")
    try:
        return datetime(
            int(text[0:4]), int(text[4:6]), int(text[6:8]),
            int(text[8:10]), int(text[10:12]), int(text[12:14]),
            int(text[14:17]) * 1000, tzinfo=UTC,
        )
    except ValueError as exc:
        raise IlpError(f"{what}: expiresAt {text} is not a valid time ({exc})") from exc


def encode_prepare(prepare: IlpPrepare) -> bytes:
    _check_amount(prepare.amount)
    _check_data(prepare.data)
    if len(prepare.execution_condition) != CONDITION_BYTES:
        raise IlpError(f"execution condition must be {CONDITION_BYTES} bytes, got {len(prepare.execution_condition)}")
    contents = (
        prepare.amount.to_bytes(8, "big")
        + _format_generalized_time(prepare.expires_at)
        + prepare.execution_condition
        + _var_octets(_address_bytes(prepare.destination, "destination"))
        + _var_octets(prepare.data)
    )
    return _envelope(TYPE_ILP_PREPARE, contents)


def decode_prepare(packet: bytes) -> IlpPrepare:
    what = "ILP prepare packet"
    reader = _open_envelope(packet, TYPE_ILP_PREPARE, what)
    amount = reader.u64("amount")
    expires_at = _parse_generalized_time(reader.take(EXPIRES_AT_CHARS, "expiresAt"), what)
    condition = reader.take(CONDITION_BYTES, "executionCondition")
    destination = _address_text(reader.var_octets("destination"), what, "destination")
    data = reader.var_octets("data")
    if len(data) > MAX_DATA_BYTES:
        raise IlpError(f"{what}: data is {len(data)} bytes, at most {MAX_DATA_BYTES} allowed")
    if reader.remaining():
        raise IlpError(f"{what}: {reader.remaining()} bytes after the data field")
    return IlpPrepare(
        amount=amount, expires_at=expires_at, execution_condition=condition, destination=destination, data=data
    )


# --------------------------------------------------------------------------- FSPIOP ilpPacket


def decode_packet(packet_b64url: str) -> IlpPayment | IlpPrepare:
    """Decode an FSPIOP ``ilpPacket`` string, whichever of the two packet types it holds."""
    raw = b64url_decode(packet_b64url)
    if not raw:
        raise IlpError("ilpPacket is empty")
    if raw[0] == TYPE_ILP_PAYMENT:
        return decode_payment(raw)
    if raw[0] == TYPE_ILP_PREPARE:
        return decode_prepare(raw)
    raise IlpError(f"ilpPacket type byte is 0x{raw[0]:02x}, expected 0x01 (ILP payment) or 0x0c (ILPv4 Prepare)")


def transaction_data(transaction: dict[str, Any]) -> bytes:
    """The ``data`` field for a Transaction object: the ASCII of base64url(JSON)."""
    try:
        return b64url_encode(orjson.dumps(transaction)).encode("ascii")
    except TypeError as exc:
        raise IlpError(f"the transaction cannot be serialised as JSON: {exc}") from exc


def transaction_from_data(data: bytes) -> dict[str, Any]:
    """The Transaction object inside a packet's ``data`` (as central-ledger decodes it)."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise IlpError("packet data is not base64url text") from exc
    try:
        decoded = orjson.loads(b64url_decode(text))
    except orjson.JSONDecodeError as exc:
        raise IlpError("packet data does not hold a JSON document") from exc
    if not isinstance(decoded, dict):
        raise IlpError("packet data holds JSON that is not an object")
    return decoded


def transaction_from_packet(packet_b64url: str) -> dict[str, Any]:
    """Decode an FSPIOP ``ilpPacket`` and return the embedded Transaction JSON object."""
    return transaction_from_data(decode_packet(packet_b64url).data)


def payment_packet(amount: int, account: str, transaction: dict[str, Any]) -> str:
    """An FSPIOP v1.x ``ilpPacket`` string for a Transaction (what a payee FSP builds at quote time)."""
    return b64url_encode(encode_payment(IlpPayment(amount=amount, account=account, data=transaction_data(transaction))))


# --------------------------------------------------------------------------- condition / fulfilment


def condition_of(preimage: bytes) -> bytes:
    if len(preimage) != FULFILMENT_BYTES:
        raise IlpError(f"fulfilment must be {FULFILMENT_BYTES} bytes, got {len(preimage)}")
    return hashlib.sha256(preimage).digest()


def fulfilment_to_condition(fulfilment: str) -> str:
    """base64url(SHA-256(fulfilment)) without padding; the fulfilment must decode to 32 bytes."""
    return b64url_encode(condition_of(b64url_decode(fulfilment)))


def fulfilment_matches(fulfilment: str, condition: str) -> bool:
    """Whether SHA-256(fulfilment) is the condition (FSPIOP §7.2). A malformed fulfilment is an
    ``IlpError``; a well-formed one that does not match is ``False``."""
    expected = fulfilment_to_condition(fulfilment)
    return hmac.compare_digest(expected.encode("ascii"), condition.rstrip("=").encode("ascii", "replace"))


def is_condition(text: str) -> bool:
    """A condition as FSPIOP carries it: base64url of 32 bytes (43 characters, optional ``=``)."""
    try:
        return len(b64url_decode(text)) == CONDITION_BYTES
    except IlpError:
        return False


def fulfilment_for(secret: bytes, packet: bytes | str) -> str:
    """The payee FSP's fulfilment: base64url(HMAC-SHA256(key=secret, message=packet)).

    ``packet`` is the packet bytes or the ``ilpPacket`` string exactly as sent (FSPIOP spec
    Listing 12 signs the packet; SDKs differ on bytes vs. text, and either works as long as the
    payee FSP regenerates it the same way)."""
    if not secret:
        raise IlpError("the fulfilment secret must not be empty")
    message = packet.encode("ascii") if isinstance(packet, str) else packet
    return b64url_encode(hmac.new(secret, message, hashlib.sha256).digest())


def condition_pair(secret: bytes, packet: bytes | str) -> tuple[str, str]:
    """``(fulfilment, condition)`` for a packet, both base64url without padding."""
    fulfilment = fulfilment_for(secret, packet)
    return fulfilment, fulfilment_to_condition(fulfilment)
