"""/transfers end to end over real HTTP: the hub served on loopback port-0 sockets (with its
callback dispatcher and expiry sweeper) and two loopback DFSP servers playing payer and payee."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest

from mojahub.storage.engine import open_database
from tests.support import builders as b
from tests.support.dfsp import DfspServer, RunningHub, running_dfsps, serve_hub_for_test

PAYER, PAYEE = "payerfsp", "payeefsp"


@dataclass
class Env:
    hub: RunningHub
    http: aiohttp.ClientSession
    payer: DfspServer
    payee: DfspServer
    accounts: dict[str, b.Dfsp]
    last_body: bytes = b""

    async def send(self, method: str, path: str, headers: dict[str, str], body: Any = None) -> aiohttp.ClientResponse:
        data = body if isinstance(body, bytes) or body is None else orjson.dumps(body)
        async with self.http.request(method, self.hub.fspiop_url + path, headers=headers, data=data) as resp:
            self.last_body = await resp.read()
            return resp

    async def position(self, name: str) -> int:
        db = self.hub.hub.db
        from mojahub.ledger import service as ledger

        async with db.read() as conn:
            acc = self.accounts[name].position_account_id
            return (await ledger.read(conn, [acc]))[acc].value


@pytest.fixture
async def env(db_url: str) -> AsyncIterator[Env]:
    async with running_dfsps(PAYER, PAYEE) as dfsps, serve_hub_for_test(
        db_url, expiry_sweep_interval_s=0.2, callback_poll_interval_s=0.05
    ) as hub:
        db = open_database(db_url)
        now = datetime.now(UTC)
        try:
            async with db.write() as conn:
                accounts = {
                    PAYER: await b.dfsp(conn, PAYER, endpoint_base=dfsps[PAYER].url, now=now,
                                        ndc=1_000 * b.UNITS, liquidity=5_000 * b.UNITS),
                    PAYEE: await b.dfsp(conn, PAYEE, endpoint_base=dfsps[PAYEE].url, now=now),
                }
        finally:
            await db.dispose()
        async with aiohttp.ClientSession(skip_auto_headers=["Accept", "Content-Type"]) as http:
            yield Env(hub, http, dfsps[PAYER], dfsps[PAYEE], accounts)


def _prepare(expires_in: float = 60, amount: str = "100") -> tuple[dict[str, Any], str]:
    fulfilment, condition = b.fulfilment_pair()
    body = b.prepare_body(payer=PAYER, payee=PAYEE, amount=amount, condition=condition,
                          expiration=datetime.now(UTC) + timedelta(seconds=expires_in))
    return body, fulfilment


def _fulfil(fulfilment: str | None, *, state: str = "COMMITTED", completed: datetime | None = None) -> dict[str, Any]:
    return b.fulfil_body(fulfilment=fulfilment, completed=completed or datetime.now(UTC), state=state)


async def test_p2p_transfer_is_forwarded_committed_and_confirmed(env: Env) -> None:
    body, fulfilment = _prepare()
    tid = body["transferId"]
    raw = orjson.dumps(body)
    resp = await env.send("POST", "/transfers", b.fspiop_headers(PAYER), raw)
    assert (resp.status, resp.reason) == (202, "Accepted")
    forwarded = await env.payee.next_request(method="POST", path="/transfers")
    assert forwarded.body == raw
    assert forwarded.header("FSPIOP-Destination") == PAYEE
    assert forwarded.header("FSPIOP-Source") == PAYER
    assert await env.position(PAYER) == 100 * b.UNITS

    put = orjson.dumps(_fulfil(fulfilment))
    resp = await env.send("PUT", f"/transfers/{tid}", b.fspiop_headers(PAYEE, PAYER, method="PUT"), put)
    assert (resp.status, resp.reason) == (200, "OK"), env.last_body
    to_payer = await env.payer.next_request(method="PUT", path=f"/transfers/{tid}")
    assert to_payer.body == put
    assert to_payer.json()["transferState"] == "COMMITTED"
    await env.payee.next_request(method="PUT", path=f"/transfers/{tid}")  # confirmation copy
    assert await env.position(PAYEE) == -100 * b.UNITS

    resp = await env.send("GET", f"/transfers/{tid}", b.fspiop_headers(PAYER, PAYEE, method="GET"))
    assert resp.status == 202
    answer = await env.payer.next_request(method="PUT", path=f"/transfers/{tid}")
    assert answer.json()["transferState"] == "COMMITTED"
    assert answer.header("FSPIOP-Source") == "Hub"
    assert answer.header("FSPIOP-URI") == f"/transfers/{tid}"
    assert answer.header("FSPIOP-HTTP-Method") == "PUT"
    assert answer.header("Accept") is None
    assert answer.header("Content-Type") == "application/vnd.interoperability.transfers+json;version=2.0"


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda body: body.pop("condition"), "3102"),
        (lambda body: body.update(transferId="not-an-id"), "3100"),
        (lambda body: body["amount"].update(amount="100.50"), "3100"),
        (lambda body: body.update(expiration="2026-01-01T00:00:00Z"), "3100"),
        (lambda body: body.update(amount="100"), "3101"),
    ],
)
async def test_malformed_prepare_is_answered_400_and_reserves_nothing(env: Env, mutate: Any, code: str) -> None:
    body, _ = _prepare()
    mutate(body)
    resp = await env.send("POST", "/transfers", b.fspiop_headers(PAYER), body)
    assert resp.status == 400
    async with env.http.post(env.hub.fspiop_url + "/transfers", headers=b.fspiop_headers(PAYER),
                             data=orjson.dumps(body)) as again:
        info = (await again.json(content_type=None))["errorInformation"]
    assert info["errorCode"] == code
    assert await env.position(PAYER) == 0


async def test_prepare_without_accept_header_is_3102(env: Env) -> None:
    body, _ = _prepare()
    headers = b.fspiop_headers(PAYER)
    del headers["Accept"]
    async with env.http.post(env.hub.fspiop_url + "/transfers", headers=headers, data=orjson.dumps(body)) as resp:
        assert resp.status == 400
        assert (await resp.json(content_type=None))["errorInformation"]["errorCode"] == "3102"


async def test_fulfil_with_a_future_timestamp_is_400_and_the_transfer_then_expires(env: Env) -> None:
    body, fulfilment = _prepare(expires_in=2)
    tid = body["transferId"]
    assert (await env.send("POST", "/transfers", b.fspiop_headers(PAYER), body)).status == 202
    await env.payee.next_request(method="POST", path="/transfers")
    future = datetime.now(UTC) + timedelta(seconds=10)
    resp = await env.send("PUT", f"/transfers/{tid}", b.fspiop_headers(PAYEE, PAYER, method="PUT"),
                          _fulfil(fulfilment, completed=future))
    assert resp.status == 400
    to_payer = await env.payer.next_request(method="PUT", path=f"/transfers/{tid}/error", timeout=8)
    to_payee = await env.payee.next_request(method="PUT", path=f"/transfers/{tid}/error", timeout=8)
    for msg, dest in ((to_payer, PAYER), (to_payee, PAYEE)):
        assert msg.json()["errorInformation"]["errorCode"] == "3303"
        assert msg.header("FSPIOP-Source") == "Hub"
        assert msg.header("FSPIOP-Destination") == dest
    assert await env.position(PAYER) == 0
    resp = await env.send("GET", f"/transfers/{tid}", b.fspiop_headers(PAYER, method="GET"))
    answer = await env.payer.next_request(method="PUT", path=f"/transfers/{tid}")
    assert answer.json()["extensionList"]["extension"] == [{"key": "cause", "value": "3303: Transfer expired"}]


async def test_payee_abort_via_put_aborted_changes_nothing_until_the_error_callback(env: Env) -> None:
    body, fulfilment = _prepare()
    tid = body["transferId"]
    await env.send("POST", "/transfers", b.fspiop_headers(PAYER), body)
    await env.payee.next_request(method="POST", path="/transfers")
    resp = await env.send("PUT", f"/transfers/{tid}", b.fspiop_headers(PAYEE, PAYER, method="PUT"),
                          _fulfil(fulfilment, state="ABORTED"))
    assert resp.status == 200
    assert await env.position(PAYER) == 100 * b.UNITS
    error = {"errorInformation": {"errorCode": "5101", "errorDescription": "Payee rejected quote"}}
    resp = await env.send("PUT", f"/transfers/{tid}/error", b.fspiop_headers(PAYEE, PAYER, method="PUT"), error)
    assert resp.status == 200
    fwd = await env.payer.next_request(method="PUT", path=f"/transfers/{tid}/error")
    assert fwd.json() == error
    assert await env.position(PAYER) == 0


async def test_many_concurrent_prepares_and_fulfils_settle_exactly(env: Env) -> None:
    count = 40
    prepared = [_prepare(amount="10") for _ in range(count)]
    statuses = await asyncio.gather(*(env.send("POST", "/transfers", b.fspiop_headers(PAYER), body)
                                      for body, _ in prepared))
    assert {r.status for r in statuses} == {202}
    assert await env.position(PAYER) == count * 10 * b.UNITS
    statuses = await asyncio.gather(*(
        env.send("PUT", f"/transfers/{body['transferId']}", b.fspiop_headers(PAYEE, PAYER, method="PUT"),
                 _fulfil(f)) for body, f in prepared))
    assert {r.status for r in statuses} == {200}
    assert await env.position(PAYEE) == -count * 10 * b.UNITS
    for body, _ in prepared:
        await env.payer.next_request(method="PUT", path=f"/transfers/{body['transferId']}", timeout=10)
