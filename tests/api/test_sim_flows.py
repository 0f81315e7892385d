"""The simulator's FSPIOP behaviour over real loopback HTTP, against a small test double of the
hub (an aiohttp app that routes like the switch: parties by a party map, the rest by
FSPIOP-Destination; checks the NDC at prepare and the fulfilment at fulfil). The same flows
against the real hub are in tests/e2e/test_sim_hub.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from mojahub.kernel import ilp
from mojahub.kernel.errors import error_body
from mojahub.kernel.money import parse_amount
from mojahub.sim.config import Behaviour, Mode, Party, SimConfig
from mojahub.sim.simulator import Simulator


@dataclass
class FakeHub:
    ndc_units: int = 1_000 * 10_000
    dfsps: dict[str, str] = field(default_factory=dict)  # fsp -> base URL
    parties: dict[str, str] = field(default_factory=dict)  # "MSISDN/123" -> fsp
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[tuple[str, str, str | None]] = field(default_factory=list)  # (method, path, FSPIOP-Source)
    url: str = ""
    _session: aiohttp.ClientSession | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = orjson.loads(raw) if raw else None
        src = request.headers.get("FSPIOP-Source")
        dst = request.headers.get("FSPIOP-Destination")
        self.log.append((request.method, request.path, src))
        assert request.headers["Date"]
        parts = request.path.strip("/").split("/")
        if request.method in ("GET", "POST"):
            assert request.headers["Accept"].startswith(f"application/vnd.interoperability.{parts[0]}+json")
        if body is not None:
            assert request.headers["Content-Type"].startswith(f"application/vnd.interoperability.{parts[0]}+json")
        if parts[0] == "parties" and request.method == "GET":
            owner = dst or self.parties.get("/".join(parts[1:3]))
            if owner is None:
                self._send(src, "PUT", request.path + "/error", error_body("3204", "Party not found"))
            else:
                self._send(owner, "GET", request.path, None, source=src, destination=owner)
            return web.Response(status=202)
        if parts[0] == "transfers" and request.method == "POST":
            assert body is not None
            self.transfers[body["transferId"]] = body
            if parse_amount(body["amount"]["amount"]) > self.ndc_units:
                err = error_body("4200", "Payer limit error")
                self._send(src, "PUT", f"/transfers/{body['transferId']}/error", err)
            else:
                self._send(body["payeeFsp"], "POST", "/transfers", body, source=src, destination=body["payeeFsp"])
            return web.Response(status=202)
        if parts[0] == "transfers" and request.method == "PUT" and len(parts) == 2:
            assert body is not None
            stored = self.transfers[parts[1]]
            if not ilp.fulfilment_matches(body["fulfilment"], stored["condition"]):
                err = error_body("3100", "Generic validation error - invalid fulfilment")
                self._send(stored["payerFsp"], "PUT", f"/transfers/{parts[1]}/error", err)
                return web.Response(status=200)
            state = body["transferState"]
            self._send(stored["payerFsp"], "PUT", request.path, {**body, "transferState": "COMMITTED"}, source=src)
            if state == "RESERVED":
                self._send(stored["payeeFsp"], "PATCH", request.path,
                           {"completedTimestamp": body["completedTimestamp"], "transferState": "COMMITTED"})
            return web.Response(status=200)
        # Everything else: forward to FSPIOP-Destination unchanged.
        assert dst is not None, request.path
        self._send(dst, request.method, request.path, body, source=src, destination=dst)
        return web.Response(status=202 if request.method in ("GET", "POST") else 200)

    def _send(self, fsp: str | None, method: str, path: str, body: Any, *, source: str | None = "Hub",
              destination: str | None = None) -> None:
        assert fsp is not None
        task = asyncio.create_task(self._deliver(fsp, method, path, body, source or "Hub", destination or fsp))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, fsp: str, method: str, path: str, body: Any, source: str, destination: str) -> None:
        assert self._session is not None
        resource = path.strip("/").split("/")[0]
        headers = {"FSPIOP-Source": source, "FSPIOP-Destination": destination, "Date": "Thu, 01 Jan 2026 00:00:00 GMT",
                   "Content-Type": f"application/vnd.interoperability.{resource}+json;version=1.1"}
        async with self._session.request(method, self.dfsps[fsp] + path, headers=headers,
                                         data=orjson.dumps(body) if body is not None else None) as resp:
            assert resp.status in (200, 202), (method, path, resp.status)


@pytest.fixture
async def hub() -> AsyncIterator[FakeHub]:
    fake = FakeHub()
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    fake._session = aiohttp.ClientSession()
    yield fake
    for t in list(fake._tasks):
        t.cancel()
    await fake._session.close()
    await runner.cleanup()


def _config(fsp: str, hub_url: str, parties: list[Party], **kw: Any) -> SimConfig:
    return SimConfig(fsp_id=fsp, hub_url=hub_url, parties=parties, **{"callback_timeout_s": 5, **kw})


@contextlib.asynccontextmanager
async def two_dfsps(hub: FakeHub, payee_behaviour: Behaviour | None = None,
                    **payer_kw: Any) -> AsyncIterator[tuple[Simulator, Simulator]]:
    payer = Simulator(_config("payerfsp", hub.url, [Party(idValue="111", firstName="Ann", lastName="Payer")],
                              **payer_kw))
    payee = Simulator(_config("payeefsp", hub.url, [
        Party(idValue="222", firstName="Bob", lastName="Payee"),
        Party(idValue="333", displayName="Picky Shop", behaviour=Behaviour(mode=Mode.REJECT)),
        Party(idValue="444", displayName="Broken Shop", behaviour=Behaviour(mode=Mode.WRONG_FULFILMENT)),
    ], behaviour=payee_behaviour or Behaviour()))
    for sim in (payer, payee):
        await sim.start()
        hub.dfsps[sim.config.fsp_id] = sim.fspiop_url
    for party in payee.config.parties:
        hub.parties[f"MSISDN/{party.id_value}"] = "payeefsp"
    try:
        yield payer, payee
    finally:
        await payer.stop()
        await payee.stop()


async def test_p2p_transfer_completes_with_lookup_quote_and_fulfilment(hub: FakeHub) -> None:
    async with two_dfsps(hub) as (payer, _payee):
        result = await payer.pay(to=("MSISDN", "222"), amount="100.5")
    assert result.current_state == "COMPLETED", result.error
    assert result.party is not None
    assert result.party["name"] == "Bob Payee"
    assert result.quote_response is not None
    assert result.quote_response["transferAmount"] == {"amount": "100.5", "currency": "USD"}
    tx = ilp.transaction_from_packet(result.quote_response["ilpPacket"])
    assert tx["quoteId"] == result.quote_id
    assert tx["payee"]["partyIdInfo"]["partyIdentifier"] == "222"
    assert ilp.decode_payment(ilp.b64url_decode(result.quote_response["ilpPacket"])).amount == 10050
    assert result.fulfil is not None
    assert ilp.fulfilment_matches(result.fulfil["fulfilment"], result.quote_response["condition"])
    assert [m for m, p, s in hub.log if s == "payerfsp"] == ["GET", "POST", "POST"]
    assert [(m, p.split("/")[1]) for m, p, s in hub.log if s == "payeefsp"] == [
        ("PUT", "parties"), ("PUT", "quotes"), ("PUT", "transfers")]
    sent = [(e.direction, e.method, e.path.split("/")[1]) for e in payer.events]
    assert sent[:2] == [("sent", "GET", "parties"), ("received", "PUT", "parties")]


async def test_unknown_party_ends_in_error_occurred_with_3204(hub: FakeHub) -> None:
    async with two_dfsps(hub) as (payer, _payee):
        result = await payer.pay(to=("MSISDN", "999"), amount="5")
    assert result.current_state == "ERROR_OCCURRED"
    assert result.error is not None
    assert result.error["errorCode"] == "3204"
    assert result.error_stage == "party lookup"


async def test_payer_over_the_limit_gets_4200_and_no_transfer_reaches_the_payee(hub: FakeHub) -> None:
    async with two_dfsps(hub) as (payer, payee):
        result = await payer.pay(to=("MSISDN", "222"), amount="1000.01")
    assert result.current_state == "ERROR_OCCURRED"
    assert result.error is not None
    assert result.error["errorCode"] == "4200"
    assert not any(e.method == "POST" and e.path == "/transfers" for e in payee.events)


@pytest.mark.parametrize(("party", "code"), [("333", "5104"), ("444", "3100")])
async def test_payee_behaviours_reject_or_send_a_wrong_fulfilment(hub: FakeHub, party: str, code: str) -> None:
    async with two_dfsps(hub) as (payer, _payee):
        result = await payer.pay(to=("MSISDN", party), amount="10")
    assert result.current_state == "ERROR_OCCURRED"
    assert result.error is not None
    assert result.error["errorCode"] == code


async def test_quote_rejection_stops_before_the_transfer(hub: FakeHub) -> None:
    async with two_dfsps(hub, Behaviour(mode=Mode.REJECT_QUOTE)) as (payer, _payee):
        result = await payer.pay(to=("MSISDN", "222"), amount="10")
    assert result.current_state == "ERROR_OCCURRED"
    assert result.error is not None
    assert result.error["errorCode"] == "5101"
    assert not any(p == "/transfers" for _m, p, _s in hub.log)


async def test_reserved_flow_gets_a_patch_committed_at_the_payee(hub: FakeHub) -> None:
    async with two_dfsps(hub, Behaviour(mode=Mode.RESERVE)) as (payer, payee):
        result = await payer.pay(to=("MSISDN", "222"), amount="7")
        assert result.current_state == "COMPLETED"
        for _ in range(100):
            if payee.payee.transfers.get(result.transfer_id) == "COMMITTED":
                break
            await asyncio.sleep(0.01)
    assert payee.payee.transfers[result.transfer_id] == "COMMITTED"
    assert any(e.method == "PATCH" for e in payee.events)


async def test_silent_payee_times_out_at_the_payer_and_delay_is_honoured(hub: FakeHub) -> None:
    async with two_dfsps(hub, Behaviour(mode=Mode.SILENT, delay_ms=50), callback_timeout_s=0.5) as (payer, _payee):
        result = await payer.pay(to=("MSISDN", "222"), amount="1")
    assert result.current_state == "ERROR_OCCURRED"
    assert result.error is not None
    assert result.error["errorCode"] == "2004"
    assert result.error_stage == "transfer"


async def test_outbound_api_with_explicit_party_and_quote_acceptance(hub: FakeHub) -> None:
    async with (two_dfsps(hub, auto_accept_party=False, auto_accept_quote=False) as (payer, _payee),
                aiohttp.ClientSession() as http):
            request = {"homeTransactionId": "h-1", "from": {"idType": "MSISDN", "idValue": "111"},
                       "to": {"idType": "MSISDN", "idValue": "222"}, "amountType": "SEND",
                       "currency": "USD", "amount": "12.3", "transactionType": "TRANSFER"}
            async with http.post(payer.outbound_url + "/transfers", json=request) as resp:
                state = await resp.json()
            assert resp.status == 200
            assert state["currentState"] == "WAITING_FOR_PARTY_ACCEPTANCE"
            assert state["to"]["displayName"] == "Bob Payee"
            tid = state["transferId"]
            async with http.put(f"{payer.outbound_url}/transfers/{tid}", json={"acceptParty": True}) as resp:
                state = await resp.json()
            assert state["currentState"] == "WAITING_FOR_QUOTE_ACCEPTANCE"
            assert state["quoteResponse"]["body"]["transferAmount"]["amount"] == "12.3"
            async with http.put(f"{payer.outbound_url}/transfers/{tid}", json={"acceptQuote": True}) as resp:
                state = await resp.json()
            assert (resp.status, state["currentState"]) == (200, "COMPLETED")
            assert state["fulfil"]["body"]["transferState"] == "COMMITTED"
            async with http.get(f"{payer.outbound_url}/transfers/{tid}") as resp:
                assert (await resp.json())["currentState"] == "COMPLETED"
            async with http.put(f"{payer.outbound_url}/transfers/{tid}", json={"acceptQuote": True}) as resp:
                assert resp.status == 400  # nothing left to accept


async def test_outbound_api_reports_errors_in_the_sdk_shape_and_rejects_bad_requests(hub: FakeHub) -> None:
    async with two_dfsps(hub) as (payer, _payee), aiohttp.ClientSession() as http:
        request = {"from": {"idType": "MSISDN", "idValue": "111"}, "to": {"idType": "MSISDN", "idValue": "999"},
                   "amountType": "SEND", "currency": "USD", "amount": "1"}
        async with http.post(payer.outbound_url + "/transfers", json=request) as resp:
            body = await resp.json()
        assert resp.status == 500
        assert body["statusCode"] == "3204"
        assert body["transferState"]["currentState"] == "ERROR_OCCURRED"
        assert body["transferState"]["errorInformation"]["errorCode"] == "3204"
        async with http.post(payer.outbound_url + "/transfers", json={**request, "amount": "1.00001"}) as resp:
            assert resp.status == 400
            assert "amount" in (await resp.json())["message"]
        async with http.get(payer.outbound_url + "/transfers/nope") as resp:
            assert resp.status == 404


async def test_payee_answers_malformed_requests_synchronously(hub: FakeHub) -> None:
    async with two_dfsps(hub) as (_payer, payee), aiohttp.ClientSession() as http:
        async with http.post(payee.fspiop_url + "/quotes", data=b"{not json") as resp:
            assert resp.status == 400
            assert (await resp.json())["errorInformation"]["errorCode"] == "3101"
        async with http.post(payee.fspiop_url + "/transfers", json={"transferId": "x"}) as resp:
            assert resp.status == 400
            assert (await resp.json())["errorInformation"]["errorCode"] == "3102"


async def test_transaction_request_is_answered_and_paid_by_the_payer_dfsp(hub: FakeHub) -> None:
    async with two_dfsps(hub) as (payer, payee):
        ok, answer = await payee.payer.request_to_pay(payee_id=("MSISDN", "222"), payer_id=("MSISDN", "111"),
                                                      payer_fsp="payerfsp", amount="3", currency="USD")
        assert ok, answer
        assert answer["transactionRequestState"] == "RECEIVED"
        for _ in range(200):
            if any(s == "COMMITTED" for s in payee.payee.transfers.values()) or any(
                    t.current_state == "COMPLETED" for t in payer.payer.transfers.values()):
                break
            await asyncio.sleep(0.01)
    [paid] = payer.payer.transfers.values()
    assert paid.current_state == "COMPLETED"
    assert paid.quote_request is not None
    assert paid.quote_request["transactionRequestId"]
    assert paid.quote_request["transactionType"]["initiator"] == "PAYEE"
