"""Builders for settlement tests: settlement models and committed transfers made the way the
clearing core makes them (payer POSITION +amount, payee POSITION -amount, then
``settlement.service.record_committed`` in the same transaction)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.kernel.ids import new_id
from mojahub.ledger import service as ledger
from mojahub.ledger.model import PRINCIPLE_VALUE, Posting
from mojahub.participants.settlement_models import NewSettlementModel, create_settlement_model
from mojahub.settlement.service import CommittedFlow, record_committed
from tests.support.builders import T0, UNITS, Dfsp


async def deferred_net_model(conn: AsyncConnection, name: str, currency: str | None, *,
                             auto_position_reset: bool = True, require_liquidity_check: bool = False,
                             ledger_account_type: str = "POSITION",
                             settlement_account_type: str = "SETTLEMENT") -> None:
    await create_settlement_model(conn, NewSettlementModel(
        name=name, settlement_granularity="NET", settlement_interchange="MULTILATERAL",
        settlement_delay="DEFERRED", currency=currency, require_liquidity_check=require_liquidity_check,
        ledger_account_type=ledger_account_type, settlement_account_type=settlement_account_type,
        auto_position_reset=auto_position_reset,
    ), now=T0)


async def gross_model(conn: AsyncConnection, name: str, currency: str) -> None:
    await create_settlement_model(conn, NewSettlementModel(
        name=name, settlement_granularity="GROSS", settlement_interchange="BILATERAL",
        settlement_delay="IMMEDIATE", currency=currency, require_liquidity_check=True,
        ledger_account_type="POSITION", settlement_account_type="SETTLEMENT", auto_position_reset=False,
    ), now=T0)


async def commit(conn: AsyncConnection, payer: Dfsp, payee: Dfsp, amount: float | int, *, currency: str = "XXX",
                 now: datetime = T0) -> int:
    """One committed transfer of ``amount`` whole units; returns its window id."""
    units = round(amount * UNITS)
    tid = new_id()
    await ledger.post(conn, [
        Posting(payer.position_account_id, units, PRINCIPLE_VALUE, tid),
        Posting(payee.position_account_id, -units, PRINCIPLE_VALUE, tid),
    ], now=now)
    return await record_committed(conn, [
        CommittedFlow(payer.position_account_id, payee.position_account_id, currency, units, transfer_id=tid)
    ], now=now)
