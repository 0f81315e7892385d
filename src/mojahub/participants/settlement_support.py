"""The participants read (and one write) API the settlement context calls, inside its transaction.

Written for the settlement context (engineer D) next to ``service.py`` so the two can grow
independently; the participants owner may fold it into ``service.py``. Only participants code
touches the participants tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from mojahub.participants.tables import (
    account,
    ledger_account_type,
    participant,
    participant_limit,
    settlement_model,
)

NET_DEBIT_CAP = "NET_DEBIT_CAP"


@dataclass(frozen=True, slots=True)
class SettlementModelRecord:
    id: int
    name: str
    is_active: bool
    granularity: str  # GROSS | NET
    interchange: str  # BILATERAL | MULTILATERAL
    delay: str  # IMMEDIATE | DEFERRED
    currency: str | None  # None: the default model for currencies without their own
    require_liquidity_check: bool
    ledger_account_type: str
    settlement_account_type: str
    auto_position_reset: bool


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: int
    participant_id: int
    participant_name: str
    currency: str
    ledger_account_type: str
    is_active: bool


async def settlement_models(conn: AsyncConnection) -> list[SettlementModelRecord]:
    lat = aliased(ledger_account_type)
    sat = aliased(ledger_account_type)
    rows = (
        await conn.execute(
            select(settlement_model, lat.c.name.label("lat_name"), sat.c.name.label("sat_name"))
            .select_from(
                settlement_model.join(lat, lat.c.id == settlement_model.c.ledger_account_type_id).join(
                    sat, sat.c.id == settlement_model.c.settlement_account_type_id
                )
            )
            .order_by(settlement_model.c.id)
        )
    ).all()
    return [
        SettlementModelRecord(
            id=r.id, name=r.name, is_active=bool(r.is_active), granularity=r.settlement_granularity,
            interchange=r.settlement_interchange, delay=r.settlement_delay, currency=r.currency,
            require_liquidity_check=bool(r.require_liquidity_check), ledger_account_type=r.lat_name,
            settlement_account_type=r.sat_name, auto_position_reset=bool(r.auto_position_reset),
        )
        for r in rows
    ]


def _account_select() -> Select[Any]:
    return select(
        account.c.id, account.c.participant_id, participant.c.name.label("pname"), account.c.currency,
        ledger_account_type.c.name.label("lat"), account.c.is_active,
    ).select_from(
        account.join(participant, participant.c.id == account.c.participant_id).join(
            ledger_account_type, ledger_account_type.c.id == account.c.ledger_account_type_id
        )
    )


def _record(r: Row[Any]) -> AccountRecord:
    return AccountRecord(
        id=r.id, participant_id=r.participant_id, participant_name=r.pname,
        currency=r.currency, ledger_account_type=r.lat, is_active=bool(r.is_active),
    )


async def accounts_by_ids(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, AccountRecord]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = _account_select().where(account.c.id.in_(wanted))
    return {r.id: _record(r) for r in (await conn.execute(stmt)).all()}


async def accounts_of_participant(conn: AsyncConnection, participant_id: int) -> list[AccountRecord]:
    stmt = _account_select().where(account.c.participant_id == participant_id)
    return [_record(r) for r in (await conn.execute(stmt)).all()]


async def paired_accounts(
    conn: AsyncConnection, account_ids: Iterable[int], ledger_type: str
) -> dict[int, int]:
    """For each account, the same participant's account of ``ledger_type`` in the same currency
    (e.g. POSITION → SETTLEMENT); accounts without one are left out."""
    wanted = sorted(set(account_ids))
    if not wanted:
        return {}
    other = aliased(account)
    rows = await conn.execute(
        select(account.c.id, other.c.id.label("other_id"))
        .select_from(
            account.join(
                other,
                and_(other.c.participant_id == account.c.participant_id, other.c.currency == account.c.currency),
            ).join(ledger_account_type, ledger_account_type.c.id == other.c.ledger_account_type_id)
        )
        .where(and_(account.c.id.in_(wanted), ledger_account_type.c.name == ledger_type))
    )
    return {int(r.id): int(r.other_id) for r in rows.all()}


async def hub_account(conn: AsyncConnection, ledger_type: str, currency: str) -> int | None:
    """The hub's account of a hub-only type (HUB_MULTILATERAL_SETTLEMENT, HUB_RECONCILIATION)."""
    return (
        await conn.execute(
            select(account.c.id)
            .select_from(
                account.join(ledger_account_type, ledger_account_type.c.id == account.c.ledger_account_type_id)
            )
            .where(and_(ledger_account_type.c.name == ledger_type, account.c.currency == currency))
            .order_by(account.c.id)
            .limit(1)
        )
    ).scalar_one_or_none()


async def participant_by_id(conn: AsyncConnection, participant_id: int) -> str | None:
    return (
        await conn.execute(select(participant.c.name).where(participant.c.id == participant_id))
    ).scalar_one_or_none()


async def net_debit_cap(conn: AsyncConnection, account_id: int, *, for_update: bool = False) -> int | None:
    stmt = select(participant_limit.c.value).where(
        and_(
            participant_limit.c.account_id == account_id,
            participant_limit.c.limit_type == NET_DEBIT_CAP,
            participant_limit.c.is_active.is_(True),
        )
    )
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    value = (await conn.execute(stmt)).scalar_one_or_none()
    return int(value) if value is not None else None


async def set_net_debit_cap(conn: AsyncConnection, account_id: int, value: int, *, now: datetime) -> None:
    """A new active NDC row; the previous one is deactivated (limits keep their history)."""
    await conn.execute(
        update(participant_limit)
        .where(
            and_(
                participant_limit.c.account_id == account_id,
                participant_limit.c.limit_type == NET_DEBIT_CAP,
                participant_limit.c.is_active.is_(True),
            )
        )
        .values(is_active=False)
    )
    await conn.execute(
        insert(participant_limit).values(
            account_id=account_id, limit_type=NET_DEBIT_CAP, value=value, is_active=True, created_at=now
        )
    )
