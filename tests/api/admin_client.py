"""A small operator-API client for the admin tests (aiohttp against a real loopback server);
bodies are parsed with exact decimals so number renderings can be checked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp


@dataclass
class Answer:
    status: int
    body: Any
    text: str

    @property
    def error_code(self) -> str | None:
        if isinstance(self.body, dict) and "errorInformation" in self.body:
            return str(self.body["errorInformation"]["errorCode"])
        return None

    @property
    def error_description(self) -> str:
        assert isinstance(self.body, dict)
        return str(self.body["errorInformation"]["errorDescription"])


class AdminClient:
    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base_url = base_url

    async def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                   headers: dict[str, str] | None = None) -> Answer:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"Content-Type": "application/json"} if raw is None and body is not None else {}
        hdrs.update(headers or {})
        async with self.http.request(method, self.base_url + path, data=data, headers=hdrs) as resp:
            text = await resp.text()
            parsed = json.loads(text, parse_float=Decimal) if text and resp.content_type == "application/json" else None
            return Answer(resp.status, parsed, text)

    async def get(self, path: str) -> Answer:
        return await self.call("GET", path)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return await self.call("POST", path, body, **kw)

    async def put(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return await self.call("PUT", path, body, **kw)

    async def settlement_account(self, name: str, currency: str) -> dict[str, Any]:
        got = await self.get(f"/participants/{name}/accounts")
        assert got.status == 200, got.text
        return next(a for a in got.body if a["ledgerAccountType"] == "SETTLEMENT" and a["currency"] == currency)

    async def provision_hub(self, currency: str) -> None:
        for t in ("HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"):
            got = await self.post("/participants/Hub/accounts", {"type": t, "currency": currency})
            assert got.status == 201, got.text

    async def default_model(self) -> None:
        got = await self.post("/settlementModels", {
            "name": "DEFAULTDEFERREDNET", "settlementGranularity": "NET", "settlementInterchange": "MULTILATERAL",
            "settlementDelay": "DEFERRED", "requireLiquidityCheck": True, "ledgerAccountType": "POSITION",
            "settlementAccountType": "SETTLEMENT", "autoPositionReset": True,
        })
        assert got.status == 201, got.text

    async def onboard(self, name: str, currency: str, *, ndc: Any = 1000000, deposit: Any = None) -> None:
        got = await self.post("/participants", {"name": name, "currency": currency})
        assert got.status == 201, got.text
        got = await self.post(f"/participants/{name}/initialPositionAndLimits",
                              {"currency": currency, "limit": {"type": "NET_DEBIT_CAP", "value": ndc},
                               "initialPosition": 0})
        assert got.status == 201, got.text
        if deposit is not None:
            acc = await self.settlement_account(name, currency)
            got = await self.post(f"/participants/{name}/accounts/{acc['id']}", funds_in(deposit, currency))
            assert got.status == 202, got.text


_counter = [0]


def new_transfer_id() -> str:
    import uuid

    return str(uuid.uuid4())


def funds_in(amount: Any, currency: str, transfer_id: str | None = None,
             action: str = "recordFundsIn") -> dict[str, Any]:
    return {
        "transferId": transfer_id or new_transfer_id(),
        "externalReference": "660616",
        "action": action,
        "reason": "Initial deposit",
        "amount": {"amount": amount, "currency": currency},
        "extensionList": {"extension": [{"key": "scheme", "value": "abc"}]},
    }
