"""Settlement models (central-ledger ``/settlementModels``): which accounts a DFSP gets per
currency and how its positions settle. Stored with the participants because account creation
reads them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.kernel.currencies import is_currency
from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.participants import model
from mojahub.participants.service import ledger_account_type_ids
from mojahub.participants.tables import settlement_model


@dataclass(frozen=True, slots=True)
class NewSettlementModel:
    name: str
    settlement_granularity: str
    settlement_interchange: str
    settlement_delay: str
    currency: str | None
    require_liquidity_check: bool
    ledger_account_type: str
    settlement_account_type: str
    auto_position_reset: bool


@dataclass(frozen=True, slots=True)
class SettlementModel:
    id: int
    name: str
    is_active: bool
    settlement_granularity: str
    settlement_interchange: str
    settlement_delay: str
    currency: str | None
    require_liquidity_check: bool
    ledger_account_type: str
    settlement_account_type: str
    auto_position_reset: bool


async def create_settlement_model(conn: AsyncConnection, new: NewSettlementModel, *, now: datetime) -> None:
    model.check_settlement_combination(new.settlement_delay, new.settlement_granularity, new.settlement_interchange)
    if new.currency is not None and not is_currency(new.currency):
        raise HubError(ErrorCode.VALIDATION_ERROR, f"currency {new.currency!r} is not a supported ISO 4217 code")
    existing = await conn.execute(select(settlement_model.c.id).where(settlement_model.c.name == new.name))
    if existing.first() is not None:
        raise HubError(ErrorCode.CLIENT_ERROR, "Settlement Model already exists")
    lat_ids = await ledger_account_type_ids(conn)
    if new.ledger_account_type not in lat_ids:
        raise HubError(ErrorCode.ADD_PARTY_INFO_ERROR, "Ledger account type was not found")
    if new.settlement_account_type not in model.SETTLEMENT_ACCOUNT_TYPES or \
            new.settlement_account_type not in lat_ids:
        raise HubError(ErrorCode.ADD_PARTY_INFO_ERROR, "Settlement account type was not found")
    # One active model per (currency, ledger account type): a DFSP's accounts must be unambiguous.
    clash = await conn.execute(
        select(settlement_model.c.name).where(
            and_(
                settlement_model.c.is_active.is_(True),
                settlement_model.c.currency.is_(None) if new.currency is None
                else settlement_model.c.currency == new.currency,
                settlement_model.c.ledger_account_type_id == lat_ids[new.ledger_account_type],
            )
        )
    )
    other = clash.scalar_one_or_none()
    if other is not None:
        raise HubError(
            ErrorCode.CLIENT_ERROR,
            f"Settlement Model {other} already exists for this currency and ledger account type",
        )
    await conn.execute(
        insert(settlement_model).values(
            name=new.name, is_active=True, settlement_granularity=new.settlement_granularity,
            settlement_interchange=new.settlement_interchange, settlement_delay=new.settlement_delay,
            currency=new.currency, require_liquidity_check=new.require_liquidity_check,
            ledger_account_type_id=lat_ids[new.ledger_account_type],
            settlement_account_type_id=lat_ids[new.settlement_account_type],
            auto_position_reset=new.auto_position_reset, created_at=now,
        )
    )


async def list_settlement_models(conn: AsyncConnection, name: str | None = None) -> list[SettlementModel]:
    names = {v: k for k, v in (await ledger_account_type_ids(conn)).items()}
    stmt = select(settlement_model).order_by(settlement_model.c.id)
    if name is not None:
        stmt = stmt.where(settlement_model.c.name == name)
    return [
        SettlementModel(
            r.id, r.name, bool(r.is_active), r.settlement_granularity, r.settlement_interchange, r.settlement_delay,
            r.currency, bool(r.require_liquidity_check), names[r.ledger_account_type_id],
            names[r.settlement_account_type_id], bool(r.auto_position_reset),
        )
        for r in (await conn.execute(stmt)).all()
    ]


async def get_settlement_model(conn: AsyncConnection, name: str) -> SettlementModel:
    found = await list_settlement_models(conn, name)
    if not found:
        raise HubError(ErrorCode.ID_NOT_FOUND, f"Settlement model not found: {name}")
    return found[0]


async def set_settlement_model_active(conn: AsyncConnection, name: str, active: bool) -> SettlementModel:
    await get_settlement_model(conn, name)
    await conn.execute(update(settlement_model).where(settlement_model.c.name == name).values(is_active=active))
    return await get_settlement_model(conn, name)
