"""Participants use cases. The read functions at the top are what other contexts call (inside
their own transaction) to find a DFSP, its clearing accounts and its callback endpoints.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.kernel.currencies import is_currency
from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.ledger import service as ledger
from mojahub.ledger.model import INITIAL_POSITION, Posting
from mojahub.participants import model
from mojahub.participants.model import NET_DEBIT_CAP
from mojahub.participants.tables import (
    account,
    ledger_account_type,
    participant,
    participant_endpoint,
    participant_limit,
    settlement_model,
)
from mojahub.storage.engine import Database


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
    return (await clearing_accounts_many(conn, [(name, currency)]))[(name, currency)]


async def clearing_accounts_many(
    conn: AsyncConnection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], ClearingAccounts | None]:
    """``clearing_accounts`` of several (name, currency) pairs in one query."""
    wanted = set(keys)
    if not wanted:
        return {}
    rows = (
        await conn.execute(
            select(
                participant.c.name,
                account.c.currency,
                participant.c.id.label("pid"),
                participant.c.is_active.label("p_active"),
                account.c.id.label("aid"),
                account.c.is_active.label("a_active"),
                ledger_account_type.c.name.label("lat"),
                participant_limit.c.value.label("ndc"),
            )
            .select_from(
                participant.join(account, account.c.participant_id == participant.c.id)
                .join(ledger_account_type, ledger_account_type.c.id == account.c.ledger_account_type_id)
                .outerjoin(
                    participant_limit,
                    and_(
                        participant_limit.c.account_id == account.c.id,
                        participant_limit.c.limit_type == NET_DEBIT_CAP,
                        participant_limit.c.is_active.is_(True),
                    ),
                )
            )
            .where(
                and_(
                    participant.c.name.in_(sorted({n for n, _ in wanted})),
                    account.c.currency.in_(sorted({c for _, c in wanted})),
                    ledger_account_type.c.name.in_(("POSITION", "SETTLEMENT")),
                )
            )
        )
    ).all()
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if (r.name, r.currency) in wanted:
            by_key.setdefault((r.name, r.currency), {})[r.lat] = r
    out: dict[tuple[str, str], ClearingAccounts | None] = {}
    for name, currency in wanted:
        found = by_key.get((name, currency), {})
        pos = found.get("POSITION")
        settle = found.get("SETTLEMENT")
        out[(name, currency)] = None if pos is None else ClearingAccounts(
            participant_id=pos.pid,
            participant_name=name,
            participant_active=bool(pos.p_active),
            currency=currency,
            position_account_id=pos.aid,
            position_account_active=bool(pos.a_active),
            settlement_account_id=settle.aid if settle is not None else None,
            net_debit_cap=int(pos.ndc) if pos.ndc is not None else None,
        )
    return out


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


# --------------------------------------------------------------------------------------------
# Views returned to the operator API (rendered there; amounts stay integer units here).


@dataclass(frozen=True, slots=True)
class AccountSummary:
    id: int
    ledger_account_type: str
    currency: str
    is_active: bool
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class ParticipantView:
    id: int
    name: str
    is_active: bool
    is_proxy: bool
    created_at: datetime
    accounts: tuple[AccountSummary, ...]


@dataclass(frozen=True, slots=True)
class AccountBalance:
    id: int
    ledger_account_type: str
    currency: str
    is_active: bool
    value: int
    reserved_value: int
    changed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Limit:
    participant_name: str
    currency: str
    limit_type: str
    value: int
    alarm_percentage: int  # 1/10,000 units of a percent


@dataclass(frozen=True, slots=True)
class Endpoint:
    endpoint_type: str
    value: str


@dataclass(frozen=True, slots=True)
class LedgerAccountType:
    id: int
    name: str
    description: str | None
    is_active: bool
    is_settleable: bool
    created_at: datetime


# --------------------------------------------------------------------------------------------
# Lookups


async def require_participant(conn: AsyncConnection, name: str) -> ParticipantRecord:
    """The participant, or 3200 (central-ledger: unknown participant is 400/3200)."""
    found = await find_participant(conn, name)
    if found is None:
        raise HubError(ErrorCode.ID_NOT_FOUND, f"Participant does not exist: {name}")
    return found


async def ledger_account_type_ids(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(ledger_account_type.c.name, ledger_account_type.c.id))
    return {r.name: int(r.id) for r in rows.all()}


async def _accounts_of(conn: AsyncConnection, participant_id: int,
                       currency: str | None = None) -> list[AccountSummary]:
    stmt = (
        select(account, ledger_account_type.c.name.label("lat"))
        .select_from(account.join(ledger_account_type, ledger_account_type.c.id == account.c.ledger_account_type_id))
        .where(account.c.participant_id == participant_id)
        .order_by(account.c.id)
    )
    if currency is not None:
        stmt = stmt.where(account.c.currency == currency)
    rows = (await conn.execute(stmt)).all()
    return [AccountSummary(r.id, r.lat, r.currency, bool(r.is_active), r.created_at, r.created_by) for r in rows]


async def _view(conn: AsyncConnection, name: str) -> ParticipantView:
    row = (await conn.execute(select(participant).where(participant.c.name == name))).first()
    if row is None:
        raise HubError(ErrorCode.ID_NOT_FOUND, f"Participant does not exist: {name}")
    accounts = await _accounts_of(conn, row.id)
    return ParticipantView(row.id, row.name, bool(row.is_active), bool(row.is_proxy), row.created_at,
                           tuple(accounts))


async def get_participant(conn: AsyncConnection, name: str) -> ParticipantView:
    return await _view(conn, name)


async def list_participants(conn: AsyncConnection, *, is_proxy: bool | None = None) -> list[ParticipantView]:
    stmt = select(participant).order_by(participant.c.id)
    if is_proxy is not None:
        stmt = stmt.where(participant.c.is_proxy.is_(is_proxy))
    rows = (await conn.execute(stmt)).all()
    all_accounts = (
        await conn.execute(
            select(account, ledger_account_type.c.name.label("lat"))
            .select_from(
                account.join(ledger_account_type, ledger_account_type.c.id == account.c.ledger_account_type_id)
            )
            .order_by(account.c.id)
        )
    ).all()
    by_owner: dict[int, list[AccountSummary]] = {}
    for a in all_accounts:
        by_owner.setdefault(a.participant_id, []).append(
            AccountSummary(a.id, a.lat, a.currency, bool(a.is_active), a.created_at, a.created_by)
        )
    return [
        ParticipantView(r.id, r.name, bool(r.is_active), bool(r.is_proxy), r.created_at,
                        tuple(by_owner.get(r.id, ())))
        for r in rows
    ]


# --------------------------------------------------------------------------------------------
# The hub participant and its accounts


async def ensure_hub(conn: AsyncConnection, name: str, now: datetime) -> ParticipantRecord:
    """Create the hub participant if it does not exist yet (idempotent; run at start-up)."""
    found = await find_participant(conn, name)
    if found is not None:
        return found
    try:
        # A savepoint: start-up hooks, onboarding and other workers may create the hub at once; a
        # lost race is read back instead of failing the caller's transaction.
        async with conn.begin_nested():
            result = await conn.execute(
                insert(participant).values(
                    name=name, is_active=True, is_proxy=False, created_at=now, created_by="hub"
                )
            )
    except IntegrityError:
        return await require_participant(conn, name)
    assert result.inserted_primary_key is not None
    return ParticipantRecord(int(result.inserted_primary_key[0]), name, True, False)


async def create_hub_account(conn: AsyncConnection, *, hub_name: str, name: str, currency: str,
                             account_type: str, now: datetime) -> ParticipantView:
    """``POST /participants/Hub/accounts``: a hub account, active, with a zero position (3003 errors)."""
    found = await find_participant(conn, name)
    if found is None:
        raise HubError(ErrorCode.ADD_PARTY_INFO_ERROR, "Participant was not found.")
    if name != hub_name:
        raise HubError(ErrorCode.ADD_PARTY_INFO_ERROR, "Endpoint is reserved for creation of Hub account types only.")
    lat_ids = await ledger_account_type_ids(conn)
    if account_type not in lat_ids:
        raise HubError(ErrorCode.ADD_PARTY_INFO_ERROR, "Ledger account type was not found.")
    if account_type not in model.HUB_ACCOUNT_TYPES:
        raise HubError(ErrorCode.ADD_PARTY_INFO_ERROR, "The requested hub operator account type is not allowed.")
    existing = await conn.execute(
        select(account.c.id).where(
            and_(account.c.participant_id == found.id, account.c.currency == currency,
                 account.c.ledger_account_type_id == lat_ids[account_type])
        )
    )
    if existing.first() is not None:
        raise HubError(ErrorCode.ADD_PARTY_INFO_ERROR, "Hub account has already been registered.")
    try:
        async with conn.begin_nested():
            await _new_account(conn, found.id, currency, lat_ids[account_type], active=True, now=now)
    except IntegrityError as exc:  # a concurrent create of the same account won
        raise HubError(ErrorCode.ADD_PARTY_INFO_ERROR, "Hub account has already been registered.") from exc
    return await _view(conn, name)


async def _new_account(conn: AsyncConnection, participant_id: int, currency: str, lat_id: int, *,
                       active: bool, now: datetime) -> int:
    result = await conn.execute(
        insert(account).values(participant_id=participant_id, currency=currency, ledger_account_type_id=lat_id,
                               is_active=active, created_at=now, created_by="unknown")
    )
    assert result.inserted_primary_key is not None
    account_id = int(result.inserted_primary_key[0])
    await ledger.open_position(conn, account_id, now=now)
    return account_id


async def hub_account_id(conn: AsyncConnection, hub_name: str, currency: str, account_type: str) -> int | None:
    return (
        await conn.execute(
            select(account.c.id)
            .select_from(
                account.join(participant, participant.c.id == account.c.participant_id).join(
                    ledger_account_type, ledger_account_type.c.id == account.c.ledger_account_type_id
                )
            )
            .where(and_(participant.c.name == hub_name, account.c.currency == currency,
                        ledger_account_type.c.name == account_type))
        )
    ).scalar_one_or_none()


# --------------------------------------------------------------------------------------------
# DFSPs


def _check_currency(currency: str) -> None:
    if not is_currency(currency):
        raise HubError(ErrorCode.VALIDATION_ERROR, f"currency {currency!r} is not a supported ISO 4217 code")


async def create_participant(conn: AsyncConnection, *, hub_name: str, name: str, currency: str,
                             is_proxy: bool = False, now: datetime) -> ParticipantView:
    """``POST /participants``: create a DFSP in a currency, or add a currency to an existing one.

    Accounts come from the settlement models of the currency (or the default model), created
    inactive until ``initialPositionAndLimits``.
    """
    _check_currency(currency)
    if name == hub_name:
        raise HubError(ErrorCode.CLIENT_ERROR, f"The name {name} is reserved for the hub participant")
    for hub_type in model.REQUIRED_HUB_ACCOUNT_TYPES:
        if await hub_account_id(conn, hub_name, currency, hub_type) is None:
            which = "reconciliation" if hub_type == model.HUB_RECONCILIATION else "multilateral net settlement"
            raise HubError(ErrorCode.ADD_PARTY_INFO_ERROR,
                           f"Hub {which} account for the specified currency does not exist")
    found = await find_participant(conn, name)
    if found is not None:
        held = await conn.execute(
            select(account.c.id).where(and_(account.c.participant_id == found.id, account.c.currency == currency))
        )
        if held.first() is not None:
            raise HubError(ErrorCode.CLIENT_ERROR, "Participant currency has already been registered")
        participant_id = found.id
    else:
        participant_id = -1
    pairs = await account_types_for_currency(conn, currency)
    if participant_id < 0:
        try:
            async with conn.begin_nested():
                result = await conn.execute(
                    insert(participant).values(name=name, is_active=True, is_proxy=is_proxy, created_at=now,
                                               created_by="unknown")
                )
        except IntegrityError as exc:  # a concurrent create of the same name won
            raise HubError(ErrorCode.CLIENT_ERROR, "Participant currency has already been registered") from exc
        assert result.inserted_primary_key is not None
        participant_id = int(result.inserted_primary_key[0])
    created: set[int] = set()
    for ledger_type_id, settlement_type_id in pairs:
        for lat_id in (ledger_type_id, settlement_type_id):
            if lat_id not in created:
                await _new_account(conn, participant_id, currency, lat_id, active=False, now=now)
                created.add(lat_id)
    return await _view(conn, name)


async def account_types_for_currency(conn: AsyncConnection, currency: str) -> list[tuple[int, int]]:
    """(ledger type id, settlement type id) of the active settlement models for ``currency``, or of
    the default model(s) when none names it; 6000 when there is neither."""
    rows = (
        await conn.execute(
            select(settlement_model.c.currency, settlement_model.c.ledger_account_type_id,
                   settlement_model.c.settlement_account_type_id)
            .where(settlement_model.c.is_active.is_(True))
            .order_by(settlement_model.c.id)
        )
    ).all()
    matching = [(r.ledger_account_type_id, r.settlement_account_type_id) for r in rows if r.currency == currency]
    if not matching:
        matching = [(r.ledger_account_type_id, r.settlement_account_type_id) for r in rows if r.currency is None]
    if not matching:
        raise HubError(ErrorCode.GENERIC_SETTLEMENT_ERROR,
                       "Unable to find a matching or default, Settlement Model")
    return matching


async def set_participant_active(conn: AsyncConnection, name: str, active: bool) -> ParticipantView:
    found = await require_participant(conn, name)
    await conn.execute(update(participant).where(participant.c.id == found.id).values(is_active=active))
    return await _view(conn, name)


# --------------------------------------------------------------------------------------------
# Endpoints


async def upsert_endpoint(conn: AsyncConnection, name: str, endpoint_type: str, value: str, *,
                          now: datetime) -> None:
    """One value per participant and type; re-posting replaces it. Stored exactly as given."""
    found = await require_participant(conn, name)
    if endpoint_type not in model.ENDPOINT_TYPES:
        raise HubError(ErrorCode.VALIDATION_ERROR, f"endpoint type {endpoint_type!r} does not exist")
    changed = await conn.execute(
        update(participant_endpoint)
        .where(and_(participant_endpoint.c.participant_id == found.id,
                    participant_endpoint.c.endpoint_type == endpoint_type))
        .values(value=value, changed_at=now)
    )
    if changed.rowcount == 0:
        await conn.execute(
            insert(participant_endpoint).values(participant_id=found.id, endpoint_type=endpoint_type, value=value,
                                                created_at=now, changed_at=now)
        )


async def list_endpoints(conn: AsyncConnection, name: str, endpoint_type: str | None = None) -> list[Endpoint]:
    found = await require_participant(conn, name)
    stmt = (
        select(participant_endpoint.c.endpoint_type, participant_endpoint.c.value)
        .where(participant_endpoint.c.participant_id == found.id)
        .order_by(participant_endpoint.c.created_at, participant_endpoint.c.endpoint_type)
    )
    if endpoint_type is not None:
        stmt = stmt.where(participant_endpoint.c.endpoint_type == endpoint_type)
    return [Endpoint(r.endpoint_type, r.value) for r in (await conn.execute(stmt)).all()]


# --------------------------------------------------------------------------------------------
# Initial position, limits, positions, accounts


async def _position_account(conn: AsyncConnection, participant_id: int, currency: str) -> int:
    lat_ids = await ledger_account_type_ids(conn)
    account_id = (
        await conn.execute(
            select(account.c.id).where(
                and_(account.c.participant_id == participant_id, account.c.currency == currency,
                     account.c.ledger_account_type_id == lat_ids[model.POSITION])
            )
        )
    ).scalar_one_or_none()
    if account_id is None:
        raise HubError(ErrorCode.ID_NOT_FOUND, f"Participant has no {currency} position account")
    return int(account_id)


async def _active_limit_row(conn: AsyncConnection, account_id: int, limit_type: str) -> int | None:
    return (
        await conn.execute(
            select(participant_limit.c.id).where(
                and_(participant_limit.c.account_id == account_id, participant_limit.c.limit_type == limit_type,
                     participant_limit.c.is_active.is_(True))
            )
        )
    ).scalar_one_or_none()


async def initial_position_and_limits(conn: AsyncConnection, name: str, *, currency: str, limit_type: str,
                                      limit_value: int, initial_position: int, now: datetime) -> None:
    """Set the NDC and the initial position of a DFSP currency and activate its accounts.

    A second call is 2001 (HTTP 500) "Participant Limit or Initial Position already set", as in
    central-ledger (the TTK asserts that status).
    """
    _check_currency(currency)
    found = await require_participant(conn, name)
    position_account = await _position_account(conn, found.id, currency)
    if await _active_limit_row(conn, position_account, limit_type) is not None:
        raise HubError(ErrorCode.INTERNAL_SERVER_ERROR, "Participant Limit or Initial Position already set")
    await conn.execute(
        insert(participant_limit).values(account_id=position_account, limit_type=limit_type, value=limit_value,
                                         alarm_percentage=model.DEFAULT_ALARM_PERCENTAGE_UNITS, is_active=True,
                                         created_at=now)
    )
    if initial_position:
        # Through the ledger, so positions stay re-buildable from ledger entries.
        await ledger.post(conn, [Posting(position_account, initial_position, INITIAL_POSITION,
                                         f"initial-position-{position_account}")], now=now)
    await conn.execute(
        update(account)
        .where(and_(account.c.participant_id == found.id, account.c.currency == currency))
        .values(is_active=True)
    )


def _limit_stmt(currency: str | None, limit_type: str | None) -> Select[Any]:
    stmt = (
        select(participant.c.name, account.c.currency, participant_limit.c.limit_type, participant_limit.c.value,
               participant_limit.c.alarm_percentage)
        .select_from(
            participant_limit.join(account, account.c.id == participant_limit.c.account_id).join(
                participant, participant.c.id == account.c.participant_id
            )
        )
        .where(participant_limit.c.is_active.is_(True))
        .order_by(participant.c.id, account.c.id, participant_limit.c.limit_type)
    )
    if currency is not None:
        stmt = stmt.where(account.c.currency == currency)
    if limit_type is not None:
        stmt = stmt.where(participant_limit.c.limit_type == limit_type)
    return stmt


async def list_limits(conn: AsyncConnection, name: str | None, *, currency: str | None = None,
                      limit_type: str | None = None) -> list[Limit]:
    """Active limits of one participant (``name``) or of all participants (None)."""
    stmt = _limit_stmt(currency, limit_type)
    if name is not None:
        await require_participant(conn, name)
        stmt = stmt.where(participant.c.name == name)
    rows = (await conn.execute(stmt)).all()
    return [Limit(r.name, r.currency, r.limit_type, int(r.value), int(r.alarm_percentage)) for r in rows]


async def update_limit(conn: AsyncConnection, name: str, *, currency: str, limit_type: str, value: int,
                       alarm_percentage: int, now: datetime) -> Limit:
    """Deactivate the current limit row and insert the new one (history kept)."""
    _check_currency(currency)
    found = await require_participant(conn, name)
    position_account = await _position_account(conn, found.id, currency)
    current = await _active_limit_row(conn, position_account, limit_type)
    if current is None:
        raise HubError(ErrorCode.INTERNAL_SERVER_ERROR, "Participant Limit does not exist")
    await conn.execute(update(participant_limit).where(participant_limit.c.id == current).values(is_active=False))
    await conn.execute(
        insert(participant_limit).values(account_id=position_account, limit_type=limit_type, value=value,
                                         alarm_percentage=alarm_percentage, is_active=True, created_at=now)
    )
    return Limit(name, currency, limit_type, value, alarm_percentage)


async def account_balances(conn: AsyncConnection, name: str, *, currency: str | None = None) -> list[AccountBalance]:
    """Every account of the participant (inactive ones too), in creation order, with its position."""
    found = await require_participant(conn, name)
    accounts = await _accounts_of(conn, found.id, currency)
    positions = await ledger.read(conn, [a.id for a in accounts])
    out: list[AccountBalance] = []
    for a in accounts:
        pos = positions.get(a.id)
        out.append(AccountBalance(
            a.id, a.ledger_account_type, a.currency, a.is_active,
            pos.value if pos else 0, pos.reserved_value if pos else 0, pos.changed_at if pos else None,
        ))
    return out


async def positions(conn: AsyncConnection, name: str, *, currency: str | None = None) -> list[AccountBalance]:
    """Active POSITION accounts, in account creation order (the TTK reads ``body[0]``)."""
    return [
        b for b in await account_balances(conn, name, currency=currency)
        if b.ledger_account_type == model.POSITION and b.is_active
    ]


async def set_account_active(conn: AsyncConnection, name: str, account_id: int, active: bool) -> None:
    """Only POSITION accounts may be (de)activated (central-ledger: 2001 otherwise)."""
    found = await require_participant(conn, name)
    row = (
        await conn.execute(
            select(account.c.participant_id, ledger_account_type.c.name.label("lat"))
            .select_from(account.join(ledger_account_type,
                                      ledger_account_type.c.id == account.c.ledger_account_type_id))
            .where(account.c.id == account_id)
        )
    ).first()
    if row is None:
        raise HubError(ErrorCode.INTERNAL_SERVER_ERROR, "Account not found")
    if row.participant_id != found.id:
        raise HubError(ErrorCode.INTERNAL_SERVER_ERROR, "Participant/account mismatch")
    if row.lat != model.POSITION:
        raise HubError(ErrorCode.INTERNAL_SERVER_ERROR, "Only position account update is permitted")
    await conn.execute(update(account).where(account.c.id == account_id).values(is_active=active))


# --------------------------------------------------------------------------------------------
# Ledger account types


async def list_ledger_account_types(conn: AsyncConnection) -> list[LedgerAccountType]:
    rows = (await conn.execute(select(ledger_account_type).order_by(ledger_account_type.c.id))).all()
    return [LedgerAccountType(r.id, r.name, r.description, bool(r.is_active), bool(r.is_settleable), r.created_at)
            for r in rows]


async def create_ledger_account_type(conn: AsyncConnection, *, name: str, description: str, is_active: bool,
                                     is_settleable: bool, now: datetime) -> None:
    if name in await ledger_account_type_ids(conn):
        raise HubError(ErrorCode.CLIENT_ERROR, "This Ledger Account Type already exists")
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(ledger_account_type).values(name=name, description=description, is_active=is_active,
                                                   is_settleable=is_settleable, created_at=now)
            )
    except IntegrityError as exc:  # a concurrent create of the same name
        raise HubError(ErrorCode.CLIENT_ERROR, "This Ledger Account Type already exists") from exc


async def ensure_hub_participant(db: Database, name: str, *, now: datetime) -> ParticipantRecord:
    """``ensure_hub`` in its own transaction; several worker processes may start at once, so a
    lost insert race is read back instead of failing start-up."""
    for _attempt in range(3):
        try:
            async with db.write() as conn:
                return await ensure_hub(conn, name, now)
        except IntegrityError:
            continue
    async with db.read() as conn:
        return await require_participant(conn, name)
