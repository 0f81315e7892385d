"""Two simulated DFSPs paying each other through a real hub over loopback HTTP: onboarded with
POST /onboard, parties registered with the ALS, then lookup → quote → transfer, with positions
read back from the Admin API. SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import orjson

from mojahub.sim.config import Behaviour, Mode, Party, SimConfig
from mojahub.sim.simulator import Simulator
from tests.support.dfsp import RunningHub, serve_hub_for_test


def scheme(payer_url: str, payee_url: str, *, ndc: int = 1000) -> dict[str, Any]:
    return {
        "currencies": ["USD"],
        "settlementModels": [{
            "name": "DEFERREDNET", "settlementGranularity": "NET", "settlementInterchange": "MULTILATERAL",
            "settlementDelay": "DEFERRED", "currency": "USD", "requireLiquidityCheck": True,
            "ledgerAccountType": "POSITION", "settlementAccountType": "SETTLEMENT", "autoPositionReset": True,
        }],
        "participants": [
            {"name": "payerfsp", "callbackUrl": payer_url,
             "currencies": [{"currency": "USD", "netDebitCap": ndc, "initialFunds": 5000}]},
            {"name": "payeefsp", "callbackUrl": payee_url,
             "currencies": [{"currency": "USD", "netDebitCap": ndc, "initialFunds": 5000}]},
        ],
    }


@contextlib.asynccontextmanager
async def scheme_with_simulators(db_url: str) -> AsyncIterator[tuple[RunningHub, Simulator, Simulator,
                                                                        aiohttp.ClientSession]]:
    async with serve_hub_for_test(db_url) as running, aiohttp.ClientSession() as http:
        payer = Simulator(SimConfig(fsp_id="payerfsp", hub_url=running.fspiop_url, callback_timeout_s=10,
                                    parties=[Party(idValue="27710000001", firstName="Ann", lastName="Payer")]))
        payee = Simulator(SimConfig(fsp_id="payeefsp", hub_url=running.fspiop_url, callback_timeout_s=10, parties=[
            Party(idValue="27710000002", firstName="Bob", lastName="Payee"),
            Party(idValue="27710000003", displayName="Broken Shop", behaviour=Behaviour(mode=Mode.WRONG_FULFILMENT)),
        ]))
        await payer.start()
        await payee.start()
        try:
            async with http.post(running.admin_url + "/onboard",
                                 data=orjson.dumps(scheme(payer.fspiop_url, payee.fspiop_url))) as resp:
                assert resp.status == 200, await resp.text()
            for key, ok, body in await payee.register_parties():
                assert ok, (key, body)
            yield running, payer, payee, http
        finally:
            await payer.stop()
            await payee.stop()


async def position(http: aiohttp.ClientSession, admin_url: str, name: str) -> Decimal:
    async with http.get(f"{admin_url}/participants/{name}/positions?currency=USD") as resp:
        assert resp.status == 200
        return Decimal(str(orjson.loads(await resp.read())["value"]))


async def test_simulators_pay_each_other_through_the_hub(db_url: str) -> None:
    async with scheme_with_simulators(db_url) as (running, payer, payee, http):
        done = await payer.pay(to=("MSISDN", "27710000002"), amount="100.25")
        assert done.current_state == "COMPLETED", done.error
        assert done.party is not None
        assert done.party["partyIdInfo"]["fspId"] == "payeefsp"
        assert await position(http, running.admin_url, "payerfsp") == Decimal("100.25")
        assert await position(http, running.admin_url, "payeefsp") == Decimal("-100.25")

        over = await payer.pay(to=("MSISDN", "27710000002"), amount="950")
        assert over.current_state == "ERROR_OCCURRED"
        assert over.error is not None
        assert over.error["errorCode"] == "4200"

        broken = await payer.pay(to=("MSISDN", "27710000003"), amount="10")
        assert broken.current_state == "ERROR_OCCURRED"
        assert broken.error is not None
        assert broken.error["errorCode"].startswith("3")

        unknown = await payer.pay(to=("MSISDN", "27719999999"), amount="1")
        assert unknown.current_state == "ERROR_OCCURRED"
        assert unknown.error is not None
        assert unknown.error["errorCode"] == "3204"

        # Only the first payment moved money; the refused and aborted ones left positions as they were.
        assert await position(http, running.admin_url, "payerfsp") == Decimal("100.25")
        assert await position(http, running.admin_url, "payeefsp") == Decimal("-100.25")
        assert payee.payee.transfers[done.transfer_id] == "COMMITTED"
