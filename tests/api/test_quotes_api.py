"""Quotes end to end over HTTP (dispatcher running, loopback DFSPs), SQLite and PostgreSQL:
forwarding byte for byte both ways, participant errors, duplicates and 3106, GET, and every header
rule of the TTK quotes_negative collection (reference fspiop.md §2.1a)."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from tests.api import test_lookup_api as shared
from tests.api.test_lookup_api import Env, headers, new_ulid
from tests.support.dfsp import seed_dfsp

pytestmark = pytest.mark.asyncio(loop_scope="module")
# The shared hub of the ALS end-to-end module (one per backend, started once for this module).
backend = shared.backend
running = shared.running
env = shared.env

TXID = "01HQ3Z8Y6W7T2V9X4K5M8N0P1S"
CONDITION = "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM"
ILP = "AYIBgQAAAAAAAASwNGxldmVsb25lLmRmc3AxLm1lci45T2RTOF81MDdqUUZERmZlakgyOVc4bXFm"


def quote(quote_id: str, amount: str = "100", currency: str = "XXX", **extra: Any) -> dict[str, Any]:
    return {
        "quoteId": quote_id,
        "transactionId": TXID,
        "transactionRequestId": "b51ec534-ee48-4575-b6a9-ead2955b8069",
        "payee": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "27713803912", "fspId": "payeefsp"}},
        "payer": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "44123456789", "fspId": "payerfsp"}},
        "amountType": "RECEIVE",
        "amount": {"amount": amount, "currency": currency},
        "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"},
        **extra,
    }


ANSWER = {
    "transferAmount": {"amount": "100", "currency": "XXX"},
    "payeeReceiveAmount": {"amount": "100", "currency": "XXX"},
    "expiration": "2030-01-01T00:00:00.000Z",
    "ilpPacket": ILP,
    "condition": CONDITION,
}


async def post_and_answer(env: Env, qid: str) -> bytes:
    body = orjson.dumps(quote(qid))
    status, _ = await env.call("POST", "/quotes", headers("quotes", env.payer_name, env.payee_name, "2.0"), body)
    assert status == 202
    forwarded = await env.payee.next_request(method="POST", path="/quotes")
    assert forwarded.body == body
    answer = orjson.dumps(ANSWER)
    put_headers = headers("quotes", env.payee_name, env.payer_name, "2.0")
    status, _ = await env.call("PUT", f"/quotes/{qid}", put_headers, answer)
    assert status == 200
    return answer


async def test_payer_quotes_and_receives_the_payees_answer_with_the_condition(env: Env) -> None:
    qid = new_ulid()
    body = orjson.dumps(quote(qid))
    post_headers = headers("quotes", env.payer_name, env.payee_name, "2.0")
    status, ack = await env.call("POST", "/quotes", post_headers, body)
    assert (status, ack) == (202, None)

    forwarded = await env.payee.next_request(method="POST", path="/quotes")
    assert forwarded.body == body
    assert forwarded.header("Content-Type") == "application/vnd.interoperability.quotes+json;version=2.0"
    assert forwarded.header("FSPIOP-Source") == env.payer_name
    assert forwarded.header("FSPIOP-Destination") == env.payee_name
    assert forwarded.header("Date") == post_headers["Date"]

    answer = orjson.dumps(ANSWER)
    put_headers = headers("quotes", env.payee_name, env.payer_name, "2.0")
    status, _ = await env.call("PUT", f"/quotes/{qid}", put_headers, answer)
    assert status == 200
    delivered = await env.payer.next_request(method="PUT", path=f"/quotes/{qid}")
    assert delivered.body == answer
    assert delivered.json()["condition"] == CONDITION
    assert delivered.json()["transferAmount"] == {"amount": "100", "currency": "XXX"}
    assert delivered.header("FSPIOP-Destination") == env.payer_name
    assert delivered.header("Content-Type") == "application/vnd.interoperability.quotes+json;version=2.0"


async def test_a_resent_quote_gets_the_stored_answer_and_a_changed_one_gets_3106(env: Env) -> None:
    qid = new_ulid()
    answer = await post_and_answer(env, qid)
    await env.payer.next_request(method="PUT", path=f"/quotes/{qid}")
    status, _ = await env.call("POST", "/quotes", headers("quotes", env.payer_name, env.payee_name, "2.0"),
                               orjson.dumps(quote(qid)))
    assert status == 202
    again = await env.payer.next_request(method="PUT", path=f"/quotes/{qid}")
    assert again.body == answer
    await env.payee.assert_no_request(method="POST", path="/quotes", within=0.2)

    status, _ = await env.call("POST", "/quotes", headers("quotes", env.payer_name, env.payee_name, "2.0"),
                               orjson.dumps(quote(qid, amount="101")))
    assert status == 202
    err = await env.payer.next_request(method="PUT", path=f"/quotes/{qid}/error")
    assert err.json()["errorInformation"]["errorCode"] == "3106"
    assert err.header("FSPIOP-Source") == "Hub"
    assert err.header("Content-Type") == "application/vnd.interoperability.quotes+json;version=2.0"


async def test_a_duplicate_while_in_flight_is_not_forwarded_again(env: Env) -> None:
    qid = new_ulid()
    body = orjson.dumps(quote(qid))
    await env.call("POST", "/quotes", headers("quotes", env.payer_name, env.payee_name), body)
    await env.payee.next_request(method="POST", path="/quotes")
    await env.call("POST", "/quotes", headers("quotes", env.payer_name, env.payee_name), body)
    await env.payee.assert_no_request(method="POST", path="/quotes", within=0.3)
    await env.payer.assert_no_request(path_prefix="/quotes", within=0.1)


async def test_unknown_destination_gets_3203_and_missing_currency_5106(env: Env) -> None:
    qid = new_ulid()
    await env.call("POST", "/quotes", headers("quotes", env.payer_name, "nobodyfsp"), orjson.dumps(quote(qid)))
    err = await env.payer.next_request(method="PUT", path=f"/quotes/{qid}/error")
    assert err.json()["errorInformation"]["errorCode"] == "3203"
    assert err.header("FSPIOP-URI") == f"/quotes/{qid}/error"

    other = new_ulid()
    await env.call("POST", "/quotes", headers("quotes", env.payer_name, env.payee_name),
                   orjson.dumps(quote(quote_id=other, currency="XTS")))
    err = await env.payer.next_request(method="PUT", path=f"/quotes/{other}/error")
    assert err.json()["errorInformation"]["errorCode"] == "4103"
    await env.payee.assert_no_request(method="POST", within=0.1)


async def test_a_payee_without_a_quotes_endpoint_makes_the_hub_answer_3201(env: Env) -> None:
    qid = new_ulid()
    mute = env.payee_name.replace("payee", "mute")
    await seed_dfsp(env.hub.hub.db, mute, base_url=env.payee.url,
                    endpoint_types=("FSPIOP_CALLBACK_URL_PARTIES_GET",))
    await env.call("POST", "/quotes", headers("quotes", env.payer_name, mute), orjson.dumps(quote(qid)))
    err = await env.payer.next_request(method="PUT", path=f"/quotes/{qid}/error", timeout=10)
    assert err.json()["errorInformation"]["errorCode"] == "3201"


async def test_payee_rejection_is_forwarded_and_get_quote_goes_to_the_payee(env: Env) -> None:
    qid = new_ulid()
    await env.call("POST", "/quotes", headers("quotes", env.payer_name, env.payee_name), orjson.dumps(quote(qid)))
    await env.payee.next_request(method="POST", path="/quotes")
    status, _ = await env.call("GET", f"/quotes/{qid}", headers("quotes", env.payer_name, body=False))
    assert status == 202
    got = await env.payee.next_request(method="GET", path=f"/quotes/{qid}")
    assert got.header("FSPIOP-Destination") == env.payee_name

    error = orjson.dumps({"errorInformation": {"errorCode": "5101", "errorDescription": "Payee rejected quote"}})
    status, _ = await env.call("PUT", f"/quotes/{qid}/error", headers("quotes", env.payee_name, env.payer_name), error)
    assert status == 200
    delivered = await env.payer.next_request(method="PUT", path=f"/quotes/{qid}/error")
    assert delivered.body == error

    unknown = new_ulid()
    status, _ = await env.call("GET", f"/quotes/{unknown}", headers("quotes", env.payer_name, body=False))
    assert status == 202
    err = await env.payer.next_request(method="PUT", path=f"/quotes/{unknown}/error")
    assert err.json()["errorInformation"]["errorCode"] == "3205"


def without(hdrs: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in hdrs.items() if k not in names}


V10 = headers("quotes", "payerfsp", "payeefsp", "1.0")


def bad_body(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(quote(new_ulid()))
    node = body
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = value
    return body


@pytest.mark.parametrize(
    ("hdrs", "body", "code", "keyword"),
    [
        (without(V10, "FSPIOP-Destination"), quote(new_ulid()), "3102", "fspiop-destination"),
        ({**without(V10, "Content-Type"), "Content-Type": "application/json"}, quote(new_ulid()), "3101",
         "content-type"),
        (without(V10, "Date"), quote(new_ulid()), "3102", "date"),
        (without(V10, "FSPIOP-Source", "FSPIOP-Destination"), quote(new_ulid()), "3102", "fspiop"),
        ({**V10, "Content-Type": "application/vnd.interoperability.quotes+xml;version=5.0"}, None, "3101", ""),
        ({**V10, "Accept": "testAcceptText"}, None, "3101", "accept"),
        ({**V10, "Date": "12345"}, quote(new_ulid()), "3101", "date"),
        (V10, bad_body("quoteId", ""), "3100", "quote"),
        (V10, bad_body("transactionId", ""), "3100", "transaction"),
        (V10, bad_body("payer.partyIdInfo", ""), "3101", "payer"),
        (V10, bad_body("amountType", ""), "3100", "amount"),
        (V10, bad_body("amount.amount", ""), "3100", "amount"),
        (V10, bad_body("amount.currency", "{}"), "3100", "currency"),
        (V10, bad_body("transactionType.scenario", ""), "3100", "transactionType"),
        (V10, bad_body("transactionType.initiator", ""), "3100", "transactionType"),
        (V10, bad_body("transactionType.initiatorType", ""), "3100", "transactionType"),
        (V10, None, "3102", "requestBody"),
    ],
)
async def test_quotes_negative_rules_are_synchronous_400s(env: Env, hdrs: dict[str, str], body: Any, code: str,
                                                          keyword: str) -> None:
    status, got = await env.call("POST", "/quotes", hdrs, None if body is None else orjson.dumps(body))
    assert status == 400
    assert got["errorInformation"]["errorCode"] == code
    assert keyword in got["errorInformation"]["errorDescription"]
    await env.payee.assert_no_request(within=0.05)


async def test_missing_accept_is_3102(env: Env) -> None:
    # aiohttp adds "Accept: */*" unless told otherwise; an explicitly empty value counts as absent.
    status, got = await env.call("POST", "/quotes", {**V10, "Accept": ""}, orjson.dumps(quote(new_ulid())))
    assert status == 400
    assert got["errorInformation"]["errorCode"] == "3102"
    assert "accept" in got["errorInformation"]["errorDescription"]


async def test_bad_quote_answers_and_ids_are_refused(env: Env) -> None:
    qid = new_ulid()
    status, got = await env.call("PUT", "/quotes/not-an-id", headers("quotes", "payeefsp", "payerfsp"),
                                 orjson.dumps(ANSWER))
    assert status == 400
    assert got["errorInformation"]["errorCode"] == "3100"
    status, got = await env.call("PUT", f"/quotes/{qid}", headers("quotes", "payeefsp", "payerfsp"),
                                 orjson.dumps({**ANSWER, "condition": "x"}))
    assert status == 400
    assert got["errorInformation"]["errorCode"] == "3100"
    status, got = await env.call("PUT", f"/quotes/{qid}/error", headers("quotes", "payeefsp", "payerfsp"),
                                 orjson.dumps({"errorInformation": {"errorCode": "51", "errorDescription": "x"}}))
    assert status == 400
    assert got["errorInformation"]["errorCode"] == "3100"
