"""End to end over HTTP: a hub served on loopback ports (dispatcher running) and loopback DFSPs.
Registration, party lookup and its forwarding, error paths, and the ALS admin API, on SQLite and
PostgreSQL."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import aiohttp
import orjson
import pytest
import pytest_asyncio

from mojahub.kernel.timefmt import format_http_date
from tests.support.dfsp import DfspServer, RunningHub, seed_dfsp, serve_hub_for_test

pytestmark = pytest.mark.asyncio(loop_scope="module")


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


_counter = itertools.count(1)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid() -> str:
    return "01" + "".join(secrets.choice(_CROCKFORD) for _ in range(24))


@dataclass
class Env:
    """One test's view of the shared hub: its own two DFSPs (unique names, own loopback servers)
    and its own party identifier, so tests sharing a hub never see each other's traffic."""

    hub: RunningHub
    payer: DfspServer
    payee: DfspServer
    http: aiohttp.ClientSession
    payer_name: str
    payee_name: str
    msisdn: str

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


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One database per module and backend: starting a hub costs seconds on a loaded box, so the
    tests of a module share one hub and keep apart by using their own DFSPs and identifiers."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('als') / 'hub.db'}"
    return "postgres"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(backend: str) -> AsyncIterator[RunningHub]:
    settings: dict[str, Any] = {"callback_backoff_base_s": 0.05, "oracle_timeout_s": 2.0}
    if backend != "postgres":
        async with serve_hub_for_test(backend, **settings) as hub:
            yield hub
        return
    # PostgreSQL set up inside this loop (the conftest helpers use asyncio.run, which would unset
    # the module's event loop); skipped like the conftest fixtures when no server answers.
    from tests.conftest import PG_BASE, _pg_exec

    name = f"mojahub_als_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        await _pg_exec(f'CREATE DATABASE "{name}"')
    except (TimeoutError, OSError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not answering in CI: {exc}")
        pytest.skip("PostgreSQL not available")
    try:
        async with serve_hub_for_test(f"{PG_BASE}/{name}", **settings) as hub:
            yield hub
    finally:
        await _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest_asyncio.fixture(loop_scope="module")
async def env(running: RunningHub) -> AsyncIterator[Env]:
    n = next(_counter)
    payer_name, payee_name = f"payer{n}fsp", f"payee{n}fsp"
    async with DfspServer(payer_name) as payer, DfspServer(payee_name) as payee, \
            aiohttp.ClientSession() as http:
        await seed_dfsp(running.hub.db, payer_name, base_url=payer.url)
        await seed_dfsp(running.hub.db, payee_name, base_url=payee.url)
        yield Env(running, payer, payee, http, payer_name, payee_name, f"2771{n:07d}{secrets.randbelow(100):02d}")


def party_body(fsp: str, identifier: str) -> dict[str, Any]:
    return {
        "party": {
            "partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": identifier, "fspId": fsp},
            "name": "Jane Doe",
            "personalInfo": {"complexName": {"firstName": "Jane", "lastName": "Doe"}, "dateOfBirth": "1990-01-31"},
        }
    }


async def register(env: Env, sub_id: str | None = None) -> None:
    path = f"/participants/MSISDN/{env.msisdn}" + (f"/{sub_id}" if sub_id else "")
    status, _ = await env.call("POST", path, headers("participants", env.payee_name),
                               {"fspId": env.payee_name, "currency": "XXX"})
    assert status == 202
    confirm = await env.payee.next_request(method="PUT", path=path)
    assert confirm.json() == {"fspId": env.payee_name}
    assert confirm.header("FSPIOP-Source") == "Hub"
    assert confirm.header("FSPIOP-Destination") == env.payee_name
    assert confirm.header("Accept") is None


async def test_payee_registers_payer_looks_up_and_gets_the_payees_party_details(env: Env) -> None:
    await register(env)
    path = f"/parties/MSISDN/{env.msisdn}"
    status, body = await env.call("GET", path, headers("parties", env.payer_name, version="2.0", body=False))
    assert (status, body) == (202, None)

    forwarded = await env.payee.next_request(method="GET", path=path)
    assert forwarded.header("FSPIOP-Source") == env.payer_name
    assert forwarded.header("FSPIOP-Destination") == env.payee_name

    answer = orjson.dumps(party_body(env.payee_name, env.msisdn))
    put_headers = headers("parties", env.payee_name, env.payer_name, version="2.0")
    put_headers["FSPIOP-Signature"] = "opaque-signature"
    status, _ = await env.call("PUT", path, put_headers, answer)
    assert status == 200

    delivered = await env.payer.next_request(method="PUT", path=path)
    assert delivered.body == answer  # byte for byte
    assert delivered.header("Content-Type") == "application/vnd.interoperability.parties+json;version=2.0"
    assert delivered.header("FSPIOP-Source") == env.payee_name
    assert delivered.header("FSPIOP-Destination") == env.payer_name
    assert delivered.header("FSPIOP-Signature") == "opaque-signature"
    assert delivered.header("Date") == put_headers["Date"]


async def test_lookup_with_sub_id_goes_to_the_sub_id_endpoint(env: Env) -> None:
    await register(env, sub_id="100")
    get_headers = headers("parties", env.payer_name, body=False)
    status, _ = await env.call("GET", f"/parties/MSISDN/{env.msisdn}/100", get_headers)
    assert status == 202
    await env.payee.next_request(method="GET", path=f"/parties/MSISDN/{env.msisdn}/100")
    # Without the sub id the party is unknown: only the sub-id mapping exists.
    await env.call("GET", f"/parties/MSISDN/{env.msisdn}", headers("parties", env.payer_name, body=False))
    err = await env.payer.next_request(method="PUT", path=f"/parties/MSISDN/{env.msisdn}/error")
    assert err.json()["errorInformation"]["errorCode"] == "3204"


async def test_unknown_party_gets_3204_from_the_hub(env: Env) -> None:
    get_headers = headers("parties", env.payer_name, body=False)
    status, _ = await env.call("GET", f"/parties/MSISDN/{env.msisdn}0", get_headers)
    assert status == 202
    err = await env.payer.next_request(method="PUT", path=f"/parties/MSISDN/{env.msisdn}0/error")
    assert err.json()["errorInformation"]["errorCode"] == "3204"
    assert err.header("FSPIOP-Source") == "Hub"
    assert err.header("FSPIOP-Destination") == env.payer_name
    assert err.header("FSPIOP-URI") == f"/parties/MSISDN/{env.msisdn}0/error"
    assert err.header("FSPIOP-HTTP-Method") == "PUT"
    await env.payee.assert_no_request(path_prefix="/parties", within=0.2)


async def test_payee_error_is_forwarded_to_the_requester_unchanged(env: Env) -> None:
    await register(env)
    path = f"/parties/MSISDN/{env.msisdn}"
    await env.call("GET", path, headers("parties", env.payer_name, body=False))
    await env.payee.next_request(method="GET", path=path)
    error = orjson.dumps({"errorInformation": {"errorCode": "5400", "errorDescription": "Payee blocked"}})
    status, _ = await env.call("PUT", path + "/error", headers("parties", env.payee_name, env.payer_name), error)
    assert status == 200
    got = await env.payer.next_request(method="PUT", path=path + "/error")
    assert got.body == error
    assert got.header("FSPIOP-Source") == env.payee_name


async def test_requester_named_destination_is_used_without_the_oracle(env: Env) -> None:
    path = f"/parties/MSISDN/{env.msisdn}5"
    status, _ = await env.call("GET", path, headers("parties", env.payer_name, env.payee_name, body=False))
    assert status == 202
    got = await env.payee.next_request(method="GET", path=path)
    assert got.header("FSPIOP-Destination") == env.payee_name


async def test_unknown_requester_is_accepted_then_dropped_and_nothing_is_registered(env: Env) -> None:
    status, _ = await env.call("POST", f"/participants/MSISDN/{env.msisdn}/100",
                               headers("participants", "NOT_APPLICABLE"), {"fspId": env.payee_name, "currency": "XXX"})
    assert status == 202
    await env.call("GET", f"/parties/MSISDN/{env.msisdn}/100", headers("parties", env.payer_name, body=False))
    err = await env.payer.next_request(method="PUT", path=f"/parties/MSISDN/{env.msisdn}/100/error")
    assert err.json()["errorInformation"]["errorCode"] == "3204"


async def test_party_callback_to_an_unknown_destination_is_3201_to_the_sender(env: Env) -> None:
    path = f"/parties/MSISDN/{env.msisdn}"
    body = party_body(env.payee_name, env.msisdn)
    status, _ = await env.call("PUT", path, headers("parties", env.payee_name, "ghostfsp"), body)
    assert status == 200
    err = await env.payee.next_request(method="PUT", path=path + "/error")
    assert err.json()["errorInformation"]["errorCode"] == "3201"


async def test_participant_lookup_delete_and_batch(env: Env) -> None:
    await register(env)
    status, _ = await env.call("GET", f"/participants/MSISDN/{env.msisdn}", headers("participants", env.payer_name,
                                                                                 body=False))
    assert status == 202
    got = await env.payer.next_request(method="PUT", path=f"/participants/MSISDN/{env.msisdn}")
    assert got.json() == {"fspId": env.payee_name}

    status, _ = await env.call("DELETE", f"/participants/MSISDN/{env.msisdn}", headers("participants", env.payee_name,
                                                                                    body=False))
    assert status == 202
    await env.payee.next_request(method="PUT", path=f"/participants/MSISDN/{env.msisdn}")
    await env.call("GET", f"/participants/MSISDN/{env.msisdn}", headers("participants", env.payer_name, body=False))
    err = await env.payer.next_request(method="PUT", path=f"/participants/MSISDN/{env.msisdn}/error")
    assert err.json()["errorInformation"]["errorCode"] == "3204"

    request_id = new_ulid()
    batch = {"requestId": request_id, "currency": "XXX", "partyList": [
        {"partyIdType": "EMAIL", "partyIdentifier": f"jane{env.msisdn}@example.com"},
        {"partyIdType": "MSISDN", "partyIdentifier": env.msisdn + "9", "fspId": env.payer_name},
    ]}
    status, _ = await env.call("POST", "/participants", headers("participants", env.payee_name), batch)
    assert status == 202
    result = await env.payee.next_request(method="PUT", path=f"/participants/{request_id}")
    party_list = result.json()["partyList"]
    assert "errorInformation" not in party_list[0]
    assert party_list[1]["errorInformation"]["errorCode"] == "3003"
    get_headers = headers("parties", env.payer_name, body=False)
    await env.call("GET", f"/parties/EMAIL/jane{env.msisdn}%40example.com", get_headers)
    forwarded = await env.payee.next_request(method="GET")
    assert unquote(forwarded.path) == f"/parties/EMAIL/jane{env.msisdn}@example.com"  # '@' may travel unescaped


@pytest.mark.parametrize(
    ("method", "path", "hdrs", "body", "status", "code"),
    [
        ("GET", "/parties/PHONE/123", headers("parties", "payerfsp", body=False), None, 400, "3100"),
        ("GET", "/parties/MSISDN/123", {k: v for k, v in headers("parties", "payerfsp", body=False).items()
                                        if k != "Date"}, None, 400, "3102"),
        ("GET", "/parties/MSISDN", headers("parties", "payerfsp", body=False), None, 404, "3002"),
        ("PUT", "/parties/MSISDN/123", headers("parties", "payeefsp"), party_body("payeefsp", "123"), 400, "3102"),
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
    entry = {"fspId": env.payee_name, "currency": "XXX"}
    status, _ = await env.admin("POST", f"/oracle/participants/MSISDN/{env.msisdn}7", entry)
    assert status == 201
    status, found = await env.admin("GET", f"/oracle/participants/MSISDN/{env.msisdn}7")
    assert (status, found) == (200, {"partyList": [{"fspId": env.payee_name, "currency": "XXX"}]})

    # A lookup goes through the registered oracle (the hub itself, over HTTP).
    await env.call("GET", f"/parties/MSISDN/{env.msisdn}7", headers("parties", env.payer_name, body=False))
    await env.payee.next_request(method="GET", path=f"/parties/MSISDN/{env.msisdn}7")

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
    status, _ = await env.admin("DELETE", f"/oracle/participants/MSISDN/{env.msisdn}7")
    assert status == 204
