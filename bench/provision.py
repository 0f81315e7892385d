"""Provisioning through the operator API, in the order the TTK hub setup and DFSP onboarding
use (reference admin-api.md §5): hub accounts, settlement model, then per DFSP: participant,
initial position and NDC, transfer callback endpoints, funds in."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import aiohttp


class ProvisioningError(RuntimeError):
    pass


async def _call(
    session: aiohttp.ClientSession, method: str, url: str, body: Any = None, *, ok: tuple[int, ...] = (200, 201, 202)
) -> Any:
    async with session.request(method, url, json=body) as resp:
        text = await resp.text()
        if resp.status not in ok:
            raise ProvisioningError(f"{method} {url} -> {resp.status}: {text[:300]}")
        return await resp.json(content_type=None) if text else None


async def provision_hub(session: aiohttp.ClientSession, admin_url: str, currency: str) -> None:
    for account_type in ("HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"):
        await _call(session, "POST", f"{admin_url}/participants/Hub/accounts",
                    {"type": account_type, "currency": currency})
    await _call(session, "POST", f"{admin_url}/settlementModels", {
        "name": "DEFERREDNET",
        "settlementGranularity": "NET",
        "settlementInterchange": "MULTILATERAL",
        "settlementDelay": "DEFERRED",
        "currency": currency,
        "requireLiquidityCheck": True,
        "ledgerAccountType": "POSITION",
        "settlementAccountType": "SETTLEMENT",
        "autoPositionReset": True,
    })


async def provision_dfsp(
    session: aiohttp.ClientSession,
    admin_url: str,
    name: str,
    *,
    currency: str,
    net_debit_cap: int,
    funds_in: int,
    endpoints: Mapping[str, str],
) -> None:
    base = f"{admin_url}/participants"
    await _call(session, "POST", base, {"name": name, "currency": currency})
    await _call(session, "POST", f"{base}/{name}/initialPositionAndLimits", {
        "currency": currency, "limit": {"type": "NET_DEBIT_CAP", "value": net_debit_cap}, "initialPosition": 0,
    })
    for endpoint_type, value in endpoints.items():
        await _call(session, "POST", f"{base}/{name}/endpoints", {"type": endpoint_type, "value": value})
    accounts = await _call(session, "GET", f"{base}/{name}/accounts")
    settlement = [a for a in accounts or [] if a.get("ledgerAccountType") == "SETTLEMENT"
                  and a.get("currency") == currency]
    if not settlement:
        raise ProvisioningError(f"{name}: no SETTLEMENT account in {currency}: {accounts}")
    await _call(session, "POST", f"{base}/{name}/accounts/{settlement[0]['id']}", {
        "transferId": str(uuid.uuid4()),
        "externalReference": "bench",
        "action": "recordFundsIn",
        "reason": "bench liquidity",
        "amount": {"amount": funds_in, "currency": currency},
    })


async def provision(
    session: aiohttp.ClientSession,
    admin_url: str,
    dfsps: Mapping[str, Mapping[str, str]],
    *,
    currency: str = "USD",
    net_debit_cap: int = 1_000_000_000,
    funds_in: int = 1_000_000_000,
) -> None:
    """Provision the hub and every DFSP (``dfsps``: name -> callback endpoints)."""
    await provision_hub(session, admin_url, currency)
    for name, endpoints in dfsps.items():
        await provision_dfsp(session, admin_url, name, currency=currency, net_debit_cap=net_debit_cap,
                             funds_in=funds_in, endpoints=endpoints)


async def read_positions(
    session: aiohttp.ClientSession, admin_url: str, names: list[str], currency: str = "USD"
) -> dict[str, float]:
    """Each DFSP's net position (a JSON number on the operator API) in ``currency``."""
    out: dict[str, float] = {}
    for name in names:
        body = await _call(session, "GET", f"{admin_url}/participants/{name}/positions?currency={currency}")
        out[name] = float(body["value"])
    return out
