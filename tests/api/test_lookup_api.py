"""End to end over HTTP: a hub served on loopback ports (dispatcher running) and loopback DFSPs.
Registration, party lookup and its forwarding, error paths, and the ALS admin API, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import aiohttp
import orjson
import pytest

from mojahub.kernel.timefmt import format_http_date
from tests.support.dfsp import DfspServer, RunningHub, seed_dfsp, serve_hub_for_test

MSISDN = "27713803912"


def headers(resource: str, source: str, destination: str | None = None, version: str = "1.1",
            *, body: bool = True) -> dict[str, str]:
    out = {
        "Accept": f"application/vnd.interoperability.{resource}+json;version={version.split('.')[0]}",
        "Date": format_http_date(datetime.now(UTC)),
        "FSPIOP-Source": source,
    }
    if body:
        out["Content-Type"] = f"application/vnd.interoperability.{resource}+json;version={version}"
    if destination is not None:
        out["FSPIOP-Destination"] = destination
    return out


@dataclass
class Env:
    hub: RunningHub
    payer: DfspServer
    payee: DfspServer
    http: aiohttp.ClientSession

    async def call(self, method: str, path: str, hdrs: dict[str, str], body: Any = None) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) or body is None else orjson.dumps(body)
        async with self.http.request(method, self.hub.fspiop_url + path, headers=hdrs, data=data) as resp:
            raw = await resp.read()
            return resp.status, (orjson.loads(raw) if raw else None)

    async def admin(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else orjson.dumps(body)
        async with self.http.request(method, self.hub.admin_url + path, data=data,
                                     headers={"Content-Type": "application/json"}) as resp:
            raw = await resp.read()
            return resp.status, (orjson.loads(raw) if raw else None)


@pytest.fixture
async def env(db_url: str) -> AsyncIterator[Env]:
    async with DfspServer("payerfsp") as payer, DfspServer("payeefsp") as payee, \
            serve_hub_for_test(db_url, callback_backoff_base_s=0.05, oracle_timeout_s=2.0) as hub, \
            aiohttp.ClientSession() as http:
        await seed_dfsp(hub.hub.db, "payerfsp", base_url=payer.url)
        await seed_dfsp(hub.hub.db, "payeefsp", base_url=payee.url)
        yield Env(hub, payer, payee, http)


def party_body(fsp: str = "payeefsp", identifier: str = MSISDN) -> dict[str, Any]:
    return {
        "party": {
            "partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": identifier, "fspId": fsp},
            "name": "Jane Doe",
            "personalInfo": {"complexName": {"firstName": "Jane", "lastName": "Doe"}, "dateOfBirth": "1990-01-31"},
        }
    }


async def register(env: Env, identifier: str = MSISDN, sub_id: str | None = None) -> None:
    path = f"/participants/MSISDN/{identifier}" + (f"/{sub_id}" if sub_id else "")
    status, _ = await env.call("POST", path, headers("participants", "payeefsp"),
                               {"fspId": "payeefsp", "currency": "XXX"})
    assert status == 202
    confirm = await env.payee.next_request(method="PUT", path=path)
    assert confirm.json() == {"fspId": "payeefsp"}
    assert confirm.header("FSPIOP-Source") == "Hub"
    assert confirm.header("FSPIOP-Destination") == "payeefsp"
    assert confirm.header("Accept") is None


async def test_payee_registers_payer_looks_up_and_gets_the_payees_party_details(env: Env) -> None:
    await register(env)
    path = f"/parties/MSISDN/{MSISDN}"
    status, body = await env.call("GET", path, headers("parties", "payerfsp", version="2.0", body=False))
    assert (status, body) == (202, None)

    forwarded = await env.payee.next_request(method="GET", path=path)
    assert forwarded.header("FSPIOP-Source") == "payerfsp"
    assert forwarded.header("FSPIOP-Destination") == "payeefsp"

    answer = orjson.dumps(party_body())
    put_headers = headers("parties", "payeefsp", "payerfsp", version="2.0")
    put_headers["FSPIOP-Signature"] = "opaque-signature"
    status, _ = await env.call("PUT", path, put_headers, answer)
    assert status == 200

    delivered = await env.payer.next_request(method="PUT", path=path)
    assert delivered.body == answer  # byte for byte
    assert delivered.header("Content-Type") == "application/vnd.interoperability.parties+json;version=2.0"
    assert delivered.header("FSPIOP-Source") == "payeefsp"
    assert delivered.header("FSPIOP-Destination") == "payerfsp"
    assert delivered.header("FSPIOP-Signature") == "opaque-signature"
    assert delivered.header("Date") == put_headers["Date"]


async def test_lookup_with_sub_id_goes_to_the_sub_id_endpoint(env: Env) -> None:
    await register(env, sub_id="100")
    status, _ = await env.call("GET", f"/parties/MSISDN/{MSISDN}/100", headers("parties", "payerfsp", body=False))
    assert status == 202
    await env.payee.next_request(method="GET", path=f"/parties/MSISDN/{MSISDN}/100")
    # Without the sub id the party is unknown: only the sub-id mapping exists.
    await env.call("GET", f"/parties/MSISDN/{MSISDN}", headers("parties", "payerfsp", body=False))
    err = await env.payer.next_request(method="PUT", path=f"/parties/MSISDN/{MSISDN}/error")
    assert err.json()["errorInformation"]["errorCode"] == "3204"


async def test_unknown_party_gets_3204_from_the_hub(env: Env) -> None:
    status, _ = await env.call("GET", "/parties/MSISDN/0000000", headers("parties", "payerfsp", body=False))
    assert status == 202
    err = await env.payer.next_request(method="PUT", path="/parties/MSISDN/0000000/error")
    assert err.json()["errorInformation"]["errorCode"] == "3204"
    assert err.header("FSPIOP-Source") == "Hub"
    assert err.header("FSPIOP-Destination") == "payerfsp"
    assert err.header("FSPIOP-URI") == "/parties/MSISDN/0000000/error"
    assert err.header("FSPIOP-HTTP-Method") == "PUT"
    await env.payee.assert_no_request(path_prefix="/parties", within=0.2)


async def test_payee_error_is_forwarded_to_the_requester_unchanged(env: Env) -> None:
    await register(env)
    path = f"/parties/MSISDN/{MSISDN}"
    await env.call("GET", path, headers("parties", "payerfsp", body=False))
    await env.payee.next_request(method="GET", path=path)
    error = orjson.dumps({"errorInformation": {"errorCode": "5400", "errorDescription": "Payee blocked"}})
    status, _ = await env.call("PUT", path + "/error", headers("parties", "payeefsp", "payerfsp"), error)
    assert status == 200
    got = await env.payer.next_request(method="PUT", path=path + "/error")
    assert got.body == error
    assert got.header("FSPIOP-Source") == "payeefsp"


async def test_requester_named_destination_is_used_without_the_oracle(env: Env) -> None:
    path = "/parties/MSISDN/55555"
    status, _ = await env.call("GET", path, headers("parties", "payerfsp", "payeefsp", body=False))
    assert status == 202
    got = await env.payee.next_request(method="GET", path=path)
    assert got.header("FSPIOP-Destination") == "payeefsp"


async def test_unknown_requester_is_accepted_then_dropped_and_nothing_is_registered(env: Env) -> None:
    status, _ = await env.call("POST", f"/participants/MSISDN/{MSISDN}/100",
                               headers("participants", "NOT_APPLICABLE"), {"fspId": "payeefsp", "currency": "XXX"})
    assert status == 202
    await env.call("GET", f"/parties/MSISDN/{MSISDN}/100", headers("parties", "payerfsp", body=False))
    err = await env.payer.next_request(method="PUT", path=f"/parties/MSISDN/{MSISDN}/100/error")
    assert err.json()["errorInformation"]["errorCode"] == "3204"


async def test_party_callback_to_an_unknown_destination_is_3201_to_the_sender(env: Env) -> None:
    path = f"/parties/MSISDN/{MSISDN}"
    status, _ = await env.call("PUT", path, headers("parties", "payeefsp", "ghostfsp"), party_body())
    assert status == 200
    err = await env.payee.next_request(method="PUT", path=path + "/error")
    assert err.json()["errorInformation"]["errorCode"] == "3201"


async def test_participant_lookup_delete_and_batch(env: Env) -> None:
    await register(env)
    status, _ = await env.call("GET", f"/participants/MSISDN/{MSISDN}", headers("participants", "payerfsp",
                                                                                 body=False))
    assert status == 202
    got = await env.payer.next_request(method="PUT", path=f"/participants/MSISDN/{MSISDN}")
    assert got.json() == {"fspId": "payeefsp"}

    status, _ = await env.call("DELETE", f"/participants/MSISDN/{MSISDN}", headers("participants", "payeefsp",
                                                                                    body=False))
    assert status == 202
    await env.payee.next_request(method="PUT", path=f"/participants/MSISDN/{MSISDN}")
    await env.call("GET", f"/participants/MSISDN/{MSISDN}", headers("participants", "payerfsp", body=False))
    err = await env.payer.next_request(method="PUT", path=f"/participants/MSISDN/{MSISDN}/error")
    assert err.json()["errorInformation"]["errorCode"] == "3204"

    request_id = "01HQ3Z8Y6W7T2V9X4K5M8N0P1R"
    batch = {"requestId": request_id, "currency": "XXX", "partyList": [
        {"partyIdType": "EMAIL", "partyIdentifier": "jane@example.com"},
        {"partyIdType": "MSISDN", "partyIdentifier": "123", "fspId": "payerfsp"},
    ]}
    status, _ = await env.call("POST", "/participants", headers("participants", "payeefsp"), batch)
    assert status == 202
    result = await env.payee.next_request(method="PUT", path=f"/participants/{request_id}")
    party_list = result.json()["partyList"]
    assert "errorInformation" not in party_list[0]
    assert party_list[1]["errorInformation"]["errorCode"] == "3003"
    await env.call("GET", "/parties/EMAIL/jane%40example.com", headers("parties", "payerfsp", body=False))
    forwarded = await env.payee.next_request(method="GET")
    assert unquote(forwarded.path) == "/parties/EMAIL/jane@example.com"  # '@' may travel unescaped


@pytest.mark.parametrize(
    ("method", "path", "hdrs", "body", "status", "code"),
    [
        ("GET", "/parties/PHONE/123", headers("parties", "payerfsp", body=False), None, 400, "3100"),
        ("GET", "/parties/MSISDN/123", {k: v for k, v in headers("parties", "payerfsp", body=False).items()
                                        if k != "Date"}, None, 400, "3102"),
        ("GET", "/parties/MSISDN", headers("parties", "payerfsp", body=False), None, 404, "3002"),
        ("PUT", "/parties/MSISDN/123", headers("parties", "payeefsp"), party_body(), 400, "3102"),
        ("PUT", "/parties/MSISDN/123", headers("parties", "payeefsp", "payerfsp"), {"party": {}}, 400, "3102"),
        ("PUT", "/parties/MSISDN/123", headers("parties", "payeefsp", "payerfsp"), {"party": "x"}, 400, "3101"),
        ("POST", "/participants/MSISDN/123", headers("participants", "payeefsp"), {"fspId": ""}, 400, "3100"),
        ("POST", "/participants/MSISDN/123", headers("quotes", "payeefsp"), {"fspId": "a"}, 400, "3101"),
        ("POST", "/participants", headers("participants", "payeefsp"), {"requestId": "nope", "partyList": [
            {"partyIdType": "MSISDN", "partyIdentifier": "1"}]}, 400, "3100"),
    ],
)
async def test_bad_als_requests_get_a_synchronous_fspiop_error(env: Env, method: str, path: str,
                                                               hdrs: dict[str, str], body: Any, status: int,
                                                               code: str) -> None:
    got_status, got = await env.call(method, path, hdrs, body)
    assert got_status == status
    assert got["errorInformation"]["errorCode"] == code


async def test_oracle_admin_api_and_the_hub_as_its_own_oracle(env: Env) -> None:
    oracle = {"oracleIdType": "MSISDN", "endpoint": {"value": env.hub.admin_url + "/oracle", "endpointType": "URL"},
              "currency": "XXX", "isDefault": True}
    async with env.http.post(env.hub.admin_url + "/oracles", data=orjson.dumps(oracle), headers={
            "Content-Type": "application/vnd.interoperability.participants+json;version=1.0"}) as resp:
        assert resp.status == 201
    status, dup = await env.admin("POST", "/oracles", oracle)
    assert status == 400
    assert dup["errorInformation"]["errorCode"] == "2001"
    status, listed = await env.admin("GET", "/oracles?type=MSISDN")
    assert status == 200
    assert listed[0]["endpoint"]["value"] == env.hub.admin_url + "/oracle"
    assert listed[0]["isDefault"] is True

    # The hub's built-in oracle over the Oracle REST API.
    status, _ = await env.admin("POST", "/oracle/participants/MSISDN/777", {"fspId": "payeefsp", "currency": "XXX"})
    assert status == 201
    status, found = await env.admin("GET", "/oracle/participants/MSISDN/777")
    assert (status, found) == (200, {"partyList": [{"fspId": "payeefsp", "currency": "XXX"}]})

    # A lookup goes through the registered oracle (the hub itself, over HTTP).
    await env.call("GET", "/parties/MSISDN/777", headers("parties", "payerfsp", body=False))
    await env.payee.next_request(method="GET", path="/parties/MSISDN/777")

    oracle_id = listed[0]["oracleId"]
    status, _ = await env.admin("PUT", f"/oracles/{oracle_id}", {**oracle, "currency": "XTS"})
    assert status == 204
    status, _ = await env.admin("DELETE", f"/oracles/{oracle_id}")
    assert status == 204
    status, listed = await env.admin("GET", "/oracles")
    assert (status, listed) == (200, [])
    status, missing = await env.admin("DELETE", f"/oracles/{oracle_id}")
    assert status == 400
    assert missing["errorInformation"]["errorCode"] == "3200"
    status, bad = await env.admin("POST", "/oracles", {"oracleIdType": "PHONE", "endpoint": {"value": "x",
                                                                                          "endpointType": "URL"}})
    assert status == 400
    assert bad["errorInformation"]["errorCode"] == "3100"
    status, _ = await env.admin("DELETE", "/oracle/participants/MSISDN/777")
    assert status == 204
