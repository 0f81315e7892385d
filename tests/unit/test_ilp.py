from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mojahub.kernel import ilp
from mojahub.kernel.ilp import IlpError, IlpPayment, IlpPrepare

VECTORS: dict[str, Any] = json.loads((Path(__file__).parent / "test_ilp_vectors.json").read_text())
V1 = VECTORS["v1_payment"]
V4 = VECTORS["v4_prepare"]
GOOD_V1 = bytes.fromhex(V1[2]["hex"])
GOOD_V1_LONG = bytes.fromhex(V1[3]["hex"])
GOOD_V4 = bytes.fromhex(V4[0]["hex"])


def _v1_data(vector: dict[str, Any]) -> bytes:
    if "data_ascii" in vector:
        return str(vector["data_ascii"]).encode("ascii")
    return bytes.fromhex(vector["data_hex"])


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ----------------------------------------------------------------- reference vectors, both directions


@pytest.mark.parametrize("vector", V1, ids=[v["account"] for v in V1])
def test_v1_payment_encodes_to_the_reference_bytes(vector: dict[str, Any]) -> None:
    payment = IlpPayment(amount=int(vector["amount"]), account=vector["account"], data=_v1_data(vector))
    raw = ilp.encode_payment(payment)
    assert raw.hex() == vector["hex"]
    assert ilp.b64url_encode(raw) == vector["ilpPacket_base64url"]


@pytest.mark.parametrize("vector", V1, ids=[v["account"] for v in V1])
def test_v1_payment_decodes_from_the_reference_packet(vector: dict[str, Any]) -> None:
    decoded = ilp.decode_packet(vector["ilpPacket_base64url"])
    assert decoded == IlpPayment(amount=int(vector["amount"]), account=vector["account"], data=_v1_data(vector))


@pytest.mark.parametrize("vector", [v for v in V1 if "transaction" in v], ids=lambda v: v["account"])
def test_transaction_json_is_recovered_from_a_v1_packet(vector: dict[str, Any]) -> None:
    assert ilp.transaction_from_packet(vector["ilpPacket_base64url"]) == vector["transaction"]


def test_payment_packet_builder_matches_the_reference_for_the_same_json_bytes() -> None:
    vector = V1[0]
    # The reference serialised the JSON compactly in this key order; orjson keeps insertion order.
    assert ilp.payment_packet(int(vector["amount"]), vector["account"], vector["transaction"]) == vector[
        "ilpPacket_base64url"
    ]


def test_long_data_uses_a_multi_byte_length_prefix() -> None:
    long_vectors = [v for v in V1 if len(_v1_data(v)) > 127]
    assert long_vectors, "the vector file must exercise >127-byte data"
    for vector in long_vectors:
        raw = bytes.fromhex(vector["hex"])
        assert raw[1] & 0x80, "envelope length must use the long form"
        assert ilp.decode_payment(raw).data == _v1_data(vector)


@pytest.mark.parametrize("vector", V4, ids=[v["destination"] for v in V4])
def test_v4_prepare_encodes_to_the_reference_bytes(vector: dict[str, Any]) -> None:
    prepare = IlpPrepare(
        amount=int(vector["amount"]),
        expires_at=_iso(vector["expiresAt"]),
        execution_condition=ilp.b64url_decode(vector["executionCondition_base64url"]),
        destination=vector["destination"],
        data=bytes.fromhex(vector["data_hex"]),
    )
    raw = ilp.encode_prepare(prepare)
    assert raw.hex() == vector["hex"]
    assert ilp.b64url_encode(raw) == vector["ilpPacket_base64url"]


@pytest.mark.parametrize("vector", V4, ids=[v["destination"] for v in V4])
def test_v4_prepare_decodes_from_the_reference_packet(vector: dict[str, Any]) -> None:
    decoded = ilp.decode_packet(vector["ilpPacket_base64url"])
    assert isinstance(decoded, IlpPrepare)
    assert decoded.amount == int(vector["amount"])
    assert decoded.expires_at == _iso(vector["expiresAt"])
    assert ilp.b64url_encode(decoded.execution_condition) == vector["executionCondition_base64url"]
    assert decoded.destination == vector["destination"]
    assert decoded.data.hex() == vector["data_hex"]


@pytest.mark.parametrize("vector", V4, ids=[v["destination"] for v in V4])
def test_reference_fulfilments_hash_to_their_conditions(vector: dict[str, Any]) -> None:
    assert ilp.fulfilment_to_condition(vector["fulfilment_base64url"]) == vector["executionCondition_base64url"]
    assert ilp.fulfilment_matches(vector["fulfilment_base64url"], vector["executionCondition_base64url"])


def test_the_library_doc_example_encodes_byte_exact() -> None:
    raw = ilp.encode_payment(IlpPayment(amount=123000000, account="g.us.nexus.bob", data=bytes.fromhex("041041")))
    assert raw.hex() == "011c000000000754d4c00e672e75732e6e657875732e626f620304104100"


# ----------------------------------------------------------------- round-trip properties

addresses = st.from_regex(r"\A(g|private|test[1-3]?)(\.[a-zA-Z0-9_~-]{1,20}){1,6}\Z")
amounts = st.integers(min_value=0, max_value=ilp.MAX_UINT64)
data_fields = st.binary(max_size=2000)


@given(amount=amounts, account=addresses, data=data_fields)
def test_any_payment_round_trips(amount: int, account: str, data: bytes) -> None:
    payment = IlpPayment(amount=amount, account=account, data=data)
    raw = ilp.encode_payment(payment)
    assert ilp.decode_payment(raw) == payment
    assert ilp.decode_packet(ilp.b64url_encode(raw)) == payment


@given(
    amount=amounts,
    expires_at=st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
    ).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)),
    condition=st.binary(min_size=32, max_size=32),
    destination=addresses,
    data=data_fields,
)
def test_any_prepare_round_trips(
    amount: int, expires_at: datetime, condition: bytes, destination: str, data: bytes
) -> None:
    prepare = IlpPrepare(amount, expires_at, condition, destination, data)
    assert ilp.decode_prepare(ilp.encode_prepare(prepare)) == prepare


@given(raw=st.binary(max_size=300))
def test_base64url_round_trips_without_padding(raw: bytes) -> None:
    text = ilp.b64url_encode(raw)
    assert not set(text) & set("=+/")
    assert ilp.b64url_decode(text) == raw
    assert ilp.b64url_decode(base64.urlsafe_b64encode(raw).decode()) == raw


json_values = st.text(max_size=30) | st.integers(-(2**63), 2**63 - 1)


@given(transaction=st.dictionaries(st.text(max_size=10), json_values, max_size=8))
def test_transaction_json_round_trips_through_a_packet(transaction: dict[str, Any]) -> None:
    packet = ilp.payment_packet(100, "g.payee.msisdn.1", transaction)
    assert ilp.transaction_from_packet(packet) == transaction


@given(secret=st.binary(min_size=1, max_size=64), packet=st.binary(min_size=1, max_size=200))
def test_generated_pairs_satisfy_the_fulfil_check(secret: bytes, packet: bytes) -> None:
    fulfilment, condition = ilp.condition_pair(secret, packet)
    assert (len(fulfilment), len(condition)) == (43, 43)
    assert ilp.is_condition(condition)
    assert ilp.fulfilment_matches(fulfilment, condition)
    # The spec's own Python check (reference fspiop.md §7.2) agrees with ours.
    preimage = base64.urlsafe_b64decode(fulfilment + "=" * (-len(fulfilment) % 4))
    assert base64.urlsafe_b64encode(hashlib.sha256(preimage).digest()).rstrip(b"=").decode() == condition


def _wrap(packet_type: int, contents: bytes) -> bytes:
    """An envelope with a correct length, so the property exercises the inner fields."""
    length = len(contents)
    prefix = bytes((length,)) if length < 128 else bytes((0x81 if length < 256 else 0x82,)) + length.to_bytes(
        1 if length < 256 else 2, "big"
    )
    return bytes((packet_type,)) + prefix + contents


@given(data=st.binary(max_size=400) | st.binary(max_size=200).map(lambda b: _wrap(0x01, b)))
def test_whatever_decodes_re_encodes_to_the_same_bytes(data: bytes) -> None:
    # Strict decoding (canonical lengths, nothing after the envelope) makes the codec a bijection
    # on the packets it accepts; anything else must be an IlpError, never another exception.
    try:
        payment = ilp.decode_payment(data)
    except IlpError:
        return
    assert ilp.encode_payment(payment) == data


@given(data=st.binary(max_size=400) | st.binary(max_size=200).map(lambda b: _wrap(0x0C, GOOD_V4[3:28] + b)))
def test_whatever_decodes_as_prepare_re_encodes_to_the_same_bytes(data: bytes) -> None:
    try:
        prepare = ilp.decode_prepare(data)
    except IlpError:
        return
    assert ilp.encode_prepare(prepare) == data


# ----------------------------------------------------------------- bad input




@pytest.mark.parametrize("cut", [1, 2, 5, 10, len(GOOD_V1) - 1])
def test_truncated_payment_is_rejected(cut: int) -> None:
    with pytest.raises(IlpError, match="truncated"):
        ilp.decode_payment(GOOD_V1[:cut])


@pytest.mark.parametrize("cut", [3, 20, 40, 60, len(GOOD_V4) - 1])
def test_truncated_prepare_is_rejected(cut: int) -> None:
    with pytest.raises(IlpError, match="truncated"):
        ilp.decode_prepare(GOOD_V4[:cut])


def test_empty_packet_is_rejected() -> None:
    with pytest.raises(IlpError, match="empty"):
        ilp.decode_payment(b"")
    with pytest.raises(IlpError, match="empty"):
        ilp.decode_packet("")


def test_wrong_type_byte_is_rejected() -> None:
    with pytest.raises(IlpError, match="type byte is 0x0c"):
        ilp.decode_payment(GOOD_V4)
    with pytest.raises(IlpError, match="type byte is 0x01"):
        ilp.decode_prepare(GOOD_V1)
    with pytest.raises(IlpError, match="0x0d"):
        ilp.decode_packet(ilp.b64url_encode(b"\x0d" + GOOD_V4[1:]))


def test_bytes_after_the_envelope_are_rejected() -> None:
    with pytest.raises(IlpError, match="after the envelope"):
        ilp.decode_payment(GOOD_V1 + b"\x00")


def test_inner_length_running_past_the_envelope_is_rejected() -> None:
    broken = bytearray(GOOD_V1)
    broken[10] = 0x7F  # the account length byte now claims 127 bytes
    with pytest.raises(IlpError, match="truncated in account"):
        ilp.decode_payment(bytes(broken))


def test_non_canonical_length_prefix_is_rejected() -> None:
    # envelope length 0x1c written in long form (0x81 0x1c) is valid BER but not canonical OER
    broken = GOOD_V1[:1] + b"\x81" + GOOD_V1[1:]
    with pytest.raises(IlpError, match="not canonical"):
        ilp.decode_payment(broken)


def test_empty_long_form_length_prefix_is_rejected() -> None:
    with pytest.raises(IlpError, match="0x80"):
        ilp.decode_payment(b"\x01\x80")


def test_oversized_length_of_length_is_rejected() -> None:
    with pytest.raises(IlpError, match="too long"):
        ilp.decode_payment(b"\x01\x89" + b"\x01" * 9)


def test_long_form_with_a_leading_zero_byte_is_rejected() -> None:
    body = GOOD_V1_LONG[4:]
    broken = GOOD_V1_LONG[:1] + b"\x83\x00" + GOOD_V1_LONG[2:4] + body
    with pytest.raises(IlpError, match="not canonical"):
        ilp.decode_payment(broken)


def test_non_ascii_account_is_rejected() -> None:
    broken = bytearray(GOOD_V1)
    broken[11] = 0xFF
    with pytest.raises(IlpError, match="not ASCII"):
        ilp.decode_payment(bytes(broken))


def test_bad_expiry_in_prepare_is_rejected() -> None:
    broken = bytearray(GOOD_V4)
    broken[11:13] = b"xx"
    with pytest.raises(IlpError, match="expiresAt"):
        ilp.decode_prepare(bytes(broken))
    impossible = bytearray(GOOD_V4)
    impossible[15:17] = b"13"  # month 13
    with pytest.raises(IlpError, match="not a valid time"):
        ilp.decode_prepare(bytes(impossible))


def test_trailing_bytes_inside_a_prepare_are_rejected() -> None:
    raw = bytes.fromhex(V4[1]["hex"])
    inner = raw[2:] + b"\x00"
    with pytest.raises(IlpError, match="after the data"):
        ilp.decode_prepare(raw[:1] + bytes((len(inner),)) + inner)


@pytest.mark.parametrize("text", ["ab+c", "ab/c", "a b", "abcde", "ab=c", "a===", "ü"])
def test_bad_base64url_is_rejected(text: str) -> None:
    with pytest.raises(IlpError, match="base64url"):
        ilp.b64url_decode(text)


def test_encoding_rejects_values_the_packet_cannot_hold() -> None:
    with pytest.raises(IlpError, match="UInt64"):
        ilp.encode_payment(IlpPayment(amount=2**64, account="g.a", data=b""))
    with pytest.raises(IlpError, match="UInt64"):
        ilp.encode_payment(IlpPayment(amount=-1, account="g.a", data=b""))
    with pytest.raises(IlpError, match="ASCII"):
        ilp.encode_payment(IlpPayment(amount=1, account="g.ü", data=b""))
    with pytest.raises(IlpError, match="at most 32767"):
        ilp.encode_payment(IlpPayment(amount=1, account="g.a", data=b"x" * 32768))
    with pytest.raises(IlpError, match="32 bytes"):
        ilp.encode_prepare(IlpPrepare(1, datetime(2030, 1, 1, tzinfo=UTC), b"x" * 31, "g.a", b""))
    with pytest.raises(IlpError, match="timezone"):
        ilp.encode_prepare(IlpPrepare(1, datetime(2030, 1, 1), b"x" * 32, "g.a", b""))


def test_data_that_is_not_a_json_object_is_rejected() -> None:
    for data in (b"\xff\xfe", b"not base64!", ilp.b64url_encode(b"[1,2]").encode(), ilp.b64url_encode(b"{").encode()):
        packet = ilp.b64url_encode(ilp.encode_payment(IlpPayment(amount=1, account="g.a", data=data)))
        with pytest.raises(IlpError):
            ilp.transaction_from_packet(packet)


def test_a_transaction_json_cannot_carry_is_rejected() -> None:
    with pytest.raises(IlpError, match="JSON"):
        ilp.payment_packet(1, "g.a", {"n": 2**70})


def test_fulfilment_of_the_wrong_length_is_rejected() -> None:
    with pytest.raises(IlpError, match="32 bytes"):
        ilp.fulfilment_to_condition(ilp.b64url_encode(b"x" * 31))
    with pytest.raises(IlpError, match="base64url"):
        ilp.fulfilment_matches("not/valid", V4[0]["executionCondition_base64url"])


def test_a_different_fulfilment_does_not_match() -> None:
    assert not ilp.fulfilment_matches(V4[1]["fulfilment_base64url"], V4[0]["executionCondition_base64url"])
    assert not ilp.fulfilment_matches(V4[0]["fulfilment_base64url"], "ÿ" * 43)


def test_condition_shape_check() -> None:
    assert ilp.is_condition(V4[0]["executionCondition_base64url"])
    assert not ilp.is_condition(V4[0]["executionCondition_base64url"][:-1])
    assert not ilp.is_condition("!" * 43)


def test_empty_secret_is_refused() -> None:
    with pytest.raises(IlpError, match="secret"):
        ilp.fulfilment_for(b"", b"packet")


def test_ilp_address_syntax() -> None:
    assert ilp.is_ilp_address("g.payeefsp.msisdn.27713803912")
    assert ilp.is_ilp_address("test1.a_b~c-d")
    assert not ilp.is_ilp_address("g")
    assert not ilp.is_ilp_address("x.payee")
    assert not ilp.is_ilp_address("g." + "a" * 1022)
