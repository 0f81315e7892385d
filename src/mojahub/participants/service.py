"""Participants use cases. The read functions at the top are what other contexts call (inside
their own transaction) to find a DFSP, its clearing accounts and its callback endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.participants.tables import (
    account,
    ledger_account_type,
    participant,
    participant_endpoint,
    participant_limit,
)

NET_DEBIT_CAP = "NET_DEBIT_CAP"


@dataclass(frozen=True, slots=True)
class ParticipantRecord:
    id: int
    name: str
    is_active: bool
    is_proxy: bool


@dataclass(frozen=True, slots=True)
class ClearingAccounts:
    """What the clearing core needs about one DFSP in one currency."""

    participant_id: int
    participant_name: str
    participant_active: bool
    currency: str
    position_account_id: int
    position_account_active: bool
    settlement_account_id: int | None
    net_debit_cap: int | None


async def find_participant(conn: AsyncConnection, name: str) -> ParticipantRecord | None:
    row = (
        await conn.execute(
            select(participant.c.id, participant.c.name, participant.c.is_active, participant.c.is_proxy).where(
                participant.c.name == name
            )
        )
    ).first()
    if row is None:
        return None
    return ParticipantRecord(row.id, row.name, bool(row.is_active), bool(row.is_proxy))


async def clearing_accounts(conn: AsyncConnection, name: str, currency: str) -> ClearingAccounts | None:
    """The POSITION account (with its NDC) and SETTLEMENT account of ``name`` in ``currency``;
    None when the participant does not exist or holds no position account in that currency."""
    rows = (
        await conn.execute(
            select(
                participant.c.id.label("pid"),
                participant.c.is_active.label("p_active"),
                account.c.id.label("aid"),
                account.c.is_active.label("a_active"),
                ledger_account_type.c.name.label("lat"),
            )
            .select_from(
                participant.join(account, account.c.participant_id == participant.c.id).join(
                    ledger_account_type, ledger_account_type.c.id == account.c.ledger_account_type_id
                )
            )
            .where(
                and_(
                    participant.c.name == name,
                    account.c.currency == currency,
                    ledger_account_type.c.name.in_(("POSITION", "SETTLEMENT")),
                )
            )
        )
    ).all()
    by_type = {r.lat: r for r in rows}
    pos = by_type.get("POSITION")
    if pos is None:
        return None
    settle = by_type.get("SETTLEMENT")
    ndc = (
        await conn.execute(
            select(participant_limit.c.value).where(
                and_(
                    participant_limit.c.account_id == pos.aid,
                    participant_limit.c.limit_type == NET_DEBIT_CAP,
                    participant_limit.c.is_active.is_(True),
                )
            )
        )
    ).scalar_one_or_none()
    return ClearingAccounts(
        participant_id=pos.pid,
        participant_name=name,
        participant_active=bool(pos.p_active),
        currency=currency,
        position_account_id=pos.aid,
        position_account_active=bool(pos.a_active),
        settlement_account_id=settle.aid if settle is not None else None,
        net_debit_cap=int(ndc) if ndc is not None else None,
    )


async def endpoint_value(conn: AsyncConnection, name: str, endpoint_type: str) -> str | None:
    """The registered value (URL template or e-mail) of one endpoint type of a participant."""
    return (
        await conn.execute(
            select(participant_endpoint.c.value)
            .select_from(
                participant_endpoint.join(participant, participant.c.id == participant_endpoint.c.participant_id)
            )
            .where(and_(participant.c.name == name, participant_endpoint.c.endpoint_type == endpoint_type))
        )
    ).scalar_one_or_none()
