"""The benchmark's simulated DFSPs against a loopback stand-in for the hub's FSPIOP API: the
payee answers 202 and fulfils with the fulfilment that matches the quote's condition; the payer
resolves the transfer on the hub's callback and ignores copies meant for the payee."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
from bench.dfsps import Dfsps, transfer_endpoints
from bench.load import LoadGenerator, RunResult, quote_material

from mojahub.kernel import ilp
from tests.support.dfsp import DfspServer


async def test_payee_answers_202_then_fulfils_with_the_matching_fulfilment() -> None:
    async with DfspServer("hub") as hub, aiohttp.ClientSession() as session:
        sims = await Dfsps(hub.url, session).start()
        try:
            material = quote_material("payerfsp", "payeefsp", "10", "USD")
            prepare = {"transferId": "t-1", "payerFsp": "payerfsp", "payeeFsp": "payeefsp",
                       "amount": {"amount": "10", "currency": "USD"}, "ilpPacket": material.packet,
                       "condition": material.condition, "expiration": "2099-01-01T00:00:00.000Z"}
            post_url = transfer_endpoints(sims.url, "payeefsp")["FSPIOP_CALLBACK_URL_TRANSFER_POST"]
            async with session.post(post_url, data=orjson.dumps(prepare)) as resp:
                assert resp.status == 202
            fulfil = await hub.next_request(method="PUT", path="/transfers/t-1", timeout=5)
        finally:
            await sims.stop()
    body = fulfil.json()
    assert body["transferState"] == "COMMITTED"
    assert ilp.fulfilment_matches(body["fulfilment"], material.condition)
    assert fulfil.header("FSPIOP-Source") == "payeefsp"
    assert fulfil.header("FSPIOP-Destination") == "payerfsp"
    assert fulfil.header("Content-Type") == "application/vnd.interoperability.transfers+json;version=1.1"
    assert fulfil.header("Accept") is None


async def test_a_malformed_prepare_is_refused_with_400() -> None:
    async with aiohttp.ClientSession() as session:
        sims = await Dfsps("http://127.0.0.1:9", session).start()
        try:
            async with session.post(f"{sims.url}/payeefsp/transfers", data=b"{not json") as resp:
                assert resp.status == 400
        finally:
            await sims.stop()
    assert sum(sims.counters.unexpected.values()) == 1


async def test_generator_completes_a_transfer_when_the_payer_hears_committed() -> None:
    """A stand-in hub that plays the whole flow: 202 to the payer, forwards the prepare to the
    payee's endpoint, and on the payee's fulfil sends PUT to the payee (a copy, to be ignored)
    and then to the payer."""
    async with aiohttp.ClientSession() as session:
        sims_holder: list[Dfsps] = []

        async def hub_responder(req):  # type: ignore[no-untyped-def]
            sims = sims_holder[0]
            if req.method == "POST":
                body = req.json()
                asyncio.get_running_loop().create_task(
                    session.post(f"{sims.url}/{body['payeeFsp']}/transfers", data=req.body).__aenter__()
                )
                return 202, None, None
            transfer_id = req.path.rsplit("/", 1)[1]
            note = orjson.dumps({"transferState": "COMMITTED", "completedTimestamp": "2099-01-01T00:00:00.000Z"})
            for fsp in (req.header("FSPIOP-Source"), req.header("FSPIOP-Destination")):
                async with session.put(f"{sims.url}/{fsp}/transfers/{transfer_id}", data=note) as resp:
                    assert resp.status == 200
            return 200, None, None

        async with DfspServer("hub", responder=hub_responder) as hub:
            sims = await Dfsps(hub.url, session).start()
            sims_holder.append(sims)
            try:
                generator = LoadGenerator(hub.url, sims, session, transfer_timeout_s=5)
                result = RunResult()
                await generator.transfer("payerfsp", "payeefsp", result)
            finally:
                await sims.stop()
    assert (result.sent, result.completed, result.failed) == (1, 1, 0)
    assert result.latencies_s[0] > 0
    assert sims.counters.notifications == 1  # the payee's copy, not mistaken for the payer's answer
    # This stand-in answers the fulfil only after calling the payer back, so no fulfil_200 sample.
    assert {k: len(v) for k, v in result.phases.items()} == {
        "post_202": 1, "to_payee": 1, "fulfil_200": 0, "fulfil_to_payer": 1}
