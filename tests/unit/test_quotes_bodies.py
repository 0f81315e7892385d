"""FSPIOP quote and party bodies: spec patterns and the error-code mapping the TTK quotes_negative
collection asserts (reference fspiop.md §2.1a)."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from mojahub.fspiop.body import validate_raw
from mojahub.fspiop.parties import PARTICIPANTS_POST, PARTICIPANTS_TYPE_ID_POST, PARTIES_TYPE_ID_PUT
from mojahub.fspiop.quotes import QUOTES_ID_PUT, QUOTES_POST, to_answer, to_request
from mojahub.kernel.errors import HubError

ULID = "01HQ3Z8Y6W7T2V9X4K5M8N0P1R"
UUID = "b51ec534-ee48-4575-b6a9-ead2955b8069"
CONDITION = "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM"


def quote_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "quoteId": ULID,
        "transactionId": UUID,
        "payee": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "27713803912", "fspId": "payeefsp"}},
        "payer": {
            "partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "44123456789", "fspId": "payerfsp"},
            "personalInfo": {"complexName": {"firstName": "Mats", "lastName": "Hagman"}, "dateOfBirth": "1983-10-25"},
            "name": "Mats Hagman",
        },
        "amountType": "RECEIVE",
        "amount": {"amount": "100.5", "currency": "XXX"},
        "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"},
        "note": "hej",
        "expiration": "2030-01-01T00:00:00.000Z",
        "unknownProperty": {"tolerated": True},
    }
    body.update(changes)
    return body


def raw(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body)


def set_path(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    node = out
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = value
    return out


def test_valid_quote_request_becomes_a_command_in_hub_units() -> None:
    req = to_request(validate_raw(QUOTES_POST, raw(quote_body())))
    assert req.quote_id == ULID
    assert req.amount.units == 1_005_000
    assert req.amount.currency == "XXX"
    assert req.payee_fsp_in_body == "payeefsp"
    assert req.expires_at is not None
    assert req.expires_at.year == 2030


@pytest.mark.parametrize(
    ("path", "value", "code", "keyword"),
    [
        ("quoteId", "", "3100", "quote"),
        ("transactionId", "", "3100", "transaction"),
        ("payer.partyIdInfo", "", "3101", "payer"),
        ("amountType", "", "3100", "amount"),
        ("amount.amount", "", "3100", "amount"),
        ("amount.currency", "{}", "3100", "currency"),
        ("transactionType.scenario", "", "3100", "transactionType"),
        ("transactionType.initiator", "", "3100", "transactionType"),
        ("transactionType.initiatorType", "", "3100", "transactionType"),
        ("amount.amount", "100.50", "3100", "amount"),
        ("amount.amount", 100, "3101", "amount"),
        ("payee.partyIdInfo.partyIdType", "PHONE", "3100", "partyIdType"),
        ("quoteId", "B51EC534-EE48-4575-B6A9-EAD2955B8069", "3100", "quoteId"),
        ("expiration", "2030-01-01T00:00:00Z", "3100", "expiration"),
        ("payer.personalInfo.dateOfBirth", "1983-02-30", "3100", "dateOfBirth"),
        ("payer.personalInfo.complexName.firstName", "   ", "3100", "firstName"),
    ],
)
def test_bad_quote_fields_get_the_collection_codes_and_name_the_field(path: str, value: Any, code: str,
                                                                     keyword: str) -> None:
    with pytest.raises(HubError) as caught:
        validate_raw(QUOTES_POST, raw(set_path(quote_body(), path, value)))
    info = caught.value.to_body()["errorInformation"]
    assert info["errorCode"] == code
    assert keyword in info["errorDescription"]


@pytest.mark.parametrize("field", ["quoteId", "payee", "amount", "transactionType"])
def test_a_missing_quote_field_is_3102_naming_it(field: str) -> None:
    body = quote_body()
    del body[field]
    with pytest.raises(HubError) as caught:
        validate_raw(QUOTES_POST, raw(body))
    info = caught.value.to_body()["errorInformation"]
    assert info["errorCode"] == "3102"
    assert field in info["errorDescription"]


def test_no_body_and_broken_json_are_rejected() -> None:
    with pytest.raises(HubError) as missing:
        validate_raw(QUOTES_POST, b"")
    assert missing.value.code.code == "3102"
    with pytest.raises(HubError) as broken:
        validate_raw(QUOTES_POST, b"{not json")
    assert broken.value.code.code == "3101"


def quote_answer(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "transferAmount": {"amount": "100", "currency": "XXX"},
        "payeeReceiveAmount": {"amount": "99", "currency": "XXX"},
        "payeeFspFee": {"amount": "1", "currency": "XXX"},
        "expiration": "2030-01-01T00:00:00.000Z",
        "ilpPacket": "AYIBgQAAAAAAAASwNGxldmVsb25lLmRmc3AxLm1lci45T2RTOF81MDdqUUZERmZlakgyOVc4bXFm"
        "NEpLMHlGTFGCAUBQU0svMS4w",
        "condition": CONDITION,
    }
    body.update(changes)
    return body


def test_valid_quote_answer_keeps_amounts_in_units_and_the_condition() -> None:
    answer = to_answer(validate_raw(QUOTES_ID_PUT, raw(quote_answer())))
    assert answer.transfer_amount.units == 1_000_000
    assert answer.payee_fsp_fee is not None
    assert answer.payee_fsp_fee.units == 10_000
    assert answer.condition == CONDITION


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"condition": "short"}, "3100"),
        ({"ilpPacket": "not base64!"}, "3100"),
        ({"transferAmount": {"amount": "1.12345", "currency": "XXX"}}, "3100"),
        ({"expiration": None}, "3101"),
    ],
)
def test_bad_quote_answers_are_rejected(change: dict[str, Any], code: str) -> None:
    with pytest.raises(HubError) as caught:
        validate_raw(QUOTES_ID_PUT, raw(quote_answer(**change)))
    assert caught.value.code.code == code


@pytest.mark.parametrize("party_id_type", ["MSISDN", "EMAIL", "PERSONAL_ID", "BUSINESS", "DEVICE", "ACCOUNT_ID",
                                           "IBAN", "ALIAS", "CONSENT", "THIRD_PARTY_LINK"])
def test_every_party_id_type_of_the_spec_is_accepted(party_id_type: str) -> None:
    body = {"party": {"partyIdInfo": {"partyIdType": party_id_type, "partyIdentifier": "x1", "fspId": "f"}}}
    assert validate_raw(PARTIES_TYPE_ID_PUT, raw(body)).party.partyIdInfo.partyIdType == party_id_type


def test_participant_registration_bodies() -> None:
    assert validate_raw(PARTICIPANTS_TYPE_ID_POST, b'{"fspId":"payeefsp","currency":"XXX"}').fspId == "payeefsp"
    with pytest.raises(HubError) as caught:
        validate_raw(PARTICIPANTS_TYPE_ID_POST, b'{"currency":"XXX"}')
    assert caught.value.code.code == "3102"
    with pytest.raises(HubError) as too_long:
        validate_raw(PARTICIPANTS_TYPE_ID_POST, orjson.dumps({"fspId": "x" * 33}))
    assert too_long.value.code.code == "3100"
    with pytest.raises(HubError) as empty_batch:
        validate_raw(PARTICIPANTS_POST, orjson.dumps({"requestId": UUID, "partyList": []}))
    assert empty_batch.value.code.code == "3100"
