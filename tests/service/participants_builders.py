"""Small builders for participants service tests (run inside a write transaction)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.participants import service
from mojahub.participants.settlement_models import NewSettlementModel, create_settlement_model, list_settlement_models

HUB = "Hub"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


async def hub_with_currencies(conn: AsyncConnection, *currencies: str) -> None:
    await service.ensure_hub(conn, HUB, NOW)
    for currency in currencies:
        for t in ("HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"):
            if await service.hub_account_id(conn, HUB, currency, t) is None:
                await service.create_hub_account(conn, hub_name=HUB, name=HUB, currency=currency, account_type=t,
                                                 now=NOW)
    if not await list_settlement_models(conn):
        await create_settlement_model(conn, settlement_model("DEFAULTDEFERREDNET", None), now=NOW)


def settlement_model(name: str, currency: str | None, *, ledger: str = "POSITION", settlement: str = "SETTLEMENT",
                     delay: str = "DEFERRED", granularity: str = "NET",
                     interchange: str = "MULTILATERAL") -> NewSettlementModel:
    return NewSettlementModel(
        name=name, settlement_granularity=granularity, settlement_interchange=interchange, settlement_delay=delay,
        currency=currency, require_liquidity_check=True, ledger_account_type=ledger,
        settlement_account_type=settlement, auto_position_reset=True,
    )


async def active_dfsp(conn: AsyncConnection, name: str, currency: str, *, ndc: int = 10**10,
                      initial_position: int = 0) -> service.ParticipantView:
    await service.create_participant(conn, hub_name=HUB, name=name, currency=currency, now=NOW)
    await service.initial_position_and_limits(conn, name, currency=currency, limit_type="NET_DEBIT_CAP",
                                              limit_value=ndc, initial_position=initial_position, now=NOW)
    return await service.get_participant(conn, name)
