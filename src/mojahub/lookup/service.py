"""Account lookup use cases: the ALS FSPIOP flows (``/participants``, ``/parties``), the built-in
oracle and the oracle registry of the ALS admin API.

Resolution: the oracle registered for the party id type (and currency) is asked over the Oracle
REST API; when none is registered, when it cannot answer, or when its answer has no match, the
built-in oracle (table ``als_party``) answers. Every registration through this hub is written to
the built-in oracle (and, best effort, to the registered oracle), so lookups keep working when the
registered oracle is not a real one (the TTK case, conformance-notes §0 "Oracle").

Oracle HTTP calls happen before the write transaction, never inside it. The wire form of every
outgoing message is built at the edge and handed in as factories, so this context never imports
``fspiop``. The requester check is asynchronous (ALS behaviour): an unknown requester gets an
error callback 3200, which the dispatcher records as undeliverable when the requester is not a
participant (provisioning posts with ``FSPIOP-Source: NOT_APPLICABLE``, admin-api.md §6.2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import structlog
from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.lookup.model import Oracle, OracleEntry, PartyKey, choose_oracle, matching_fsps
from mojahub.lookup.oracle_client import OracleClient
from mojahub.lookup.tables import als_oracle, als_party
from mojahub.participants.service import find_participant
from mojahub.storage.engine import Database
from mojahub.storage.outbox import OutboundMessage, enqueue

log = structlog.get_logger(__name__)

ErrorFactory = Callable[[HubError], OutboundMessage]
ForwardFactory = Callable[[str], OutboundMessage]  # recipient FSP -> message


class Outcome(StrEnum):
    FORWARDED = "FORWARDED"
    ANSWERED = "ANSWERED"
    REJECTED = "REJECTED"


# -- built-in oracle -----------------------------------------------------------------------------


def _sub(key: PartyKey) -> str:
    return key.party_sub_id or ""


async def builtin_lookup(conn: AsyncConnection, key: PartyKey, currency: str | None) -> list[OracleEntry]:
    """Entries of the built-in oracle for ``Type/ID`` (every SubId; the caller filters)."""
    query = select(als_party.c.fsp_id, als_party.c.currency, als_party.c.party_sub_id).where(
        als_party.c.party_id_type == key.party_id_type,
        als_party.c.party_identifier == key.party_identifier,
    )
    if key.party_sub_id is not None:
        query = query.where(als_party.c.party_sub_id == key.party_sub_id)
    if currency is not None:
        query = query.where(or_(als_party.c.currency == currency, als_party.c.currency.is_(None)))
    rows = (await conn.execute(query.order_by(als_party.c.id))).all()
    return [OracleEntry(r.fsp_id, r.currency, r.party_sub_id or None) for r in rows]


async def builtin_register(
    conn: AsyncConnection, key: PartyKey, fsp_id: str, currency: str | None, now: datetime
) -> None:
    """Create or replace the owner of ``Type/ID[/SubId]`` (a re-registration moves it)."""
    changed = await conn.execute(
        update(als_party)
        .where(
            als_party.c.party_id_type == key.party_id_type,
            als_party.c.party_identifier == key.party_identifier,
            als_party.c.party_sub_id == _sub(key),
        )
        .values(fsp_id=fsp_id, currency=currency, changed_at=now)
    )
    if changed.rowcount == 0:
        await conn.execute(
            insert(als_party).values(
                party_id_type=key.party_id_type,
                party_identifier=key.party_identifier,
                party_sub_id=_sub(key),
                fsp_id=fsp_id,
                currency=currency,
                created_at=now,
                changed_at=now,
            )
        )


async def builtin_remove(conn: AsyncConnection, key: PartyKey, fsp_id: str | None = None) -> bool:
    """Remove the mapping (only if owned by ``fsp_id`` when given); True when one was removed."""
    conditions = [
        als_party.c.party_id_type == key.party_id_type,
        als_party.c.party_identifier == key.party_identifier,
        als_party.c.party_sub_id == _sub(key),
    ]
    if fsp_id is not None:
        conditions.append(als_party.c.fsp_id == fsp_id)
    result = await conn.execute(delete(als_party).where(and_(*conditions)))
    return bool(result.rowcount)


# -- oracle registry (ALS admin API) -------------------------------------------------------------


def _oracle(row: object) -> Oracle:
    return Oracle(
        id=row.id,  # type: ignore[attr-defined]
        party_id_type=row.party_id_type,  # type: ignore[attr-defined]
        endpoint_value=row.endpoint_value,  # type: ignore[attr-defined]
        endpoint_type=row.endpoint_type,  # type: ignore[attr-defined]
        currency=row.currency,  # type: ignore[attr-defined]
        is_default=bool(row.is_default),  # type: ignore[attr-defined]
        is_active=bool(row.is_active),  # type: ignore[attr-defined]
    )


async def list_oracles(
    conn: AsyncConnection, *, party_id_type: str | None = None, currency: str | None = None
) -> list[Oracle]:
    query = select(als_oracle).where(als_oracle.c.is_active.is_(True))
    if party_id_type is not None:
        query = query.where(als_oracle.c.party_id_type == party_id_type)
    if currency is not None:
        query = query.where(als_oracle.c.currency == currency)
    return [_oracle(r) for r in (await conn.execute(query.order_by(als_oracle.c.id))).all()]


@dataclass(frozen=True, slots=True)
class OracleSpec:
    party_id_type: str
    endpoint_value: str
    endpoint_type: str
    currency: str | None
    is_default: bool


async def create_oracle(db: Database, spec: OracleSpec, *, now: datetime) -> int:
    async with db.write() as conn:
        same = await conn.execute(
            select(als_oracle.c.id).where(
                als_oracle.c.is_active.is_(True),
                als_oracle.c.party_id_type == spec.party_id_type,
                als_oracle.c.endpoint_type == spec.endpoint_type,
                als_oracle.c.currency.is_(None) if spec.currency is None else als_oracle.c.currency == spec.currency,
            )
        )
        if same.first() is not None:
            # The reference ALS answers 2001 here and the TTK provisioning accepts exactly that code.
            raise HubError(
                ErrorCode.INTERNAL_SERVER_ERROR,
                f"Active oracle with the same type ({spec.party_id_type}), endpoint type and currency exists",
                http_status=400,
            )
        result = await conn.execute(
            insert(als_oracle)
            .values(
                party_id_type=spec.party_id_type,
                endpoint_value=spec.endpoint_value,
                endpoint_type=spec.endpoint_type,
                currency=spec.currency,
                is_default=spec.is_default,
                is_active=True,
                created_at=now,
                changed_at=now,
            )
            .returning(als_oracle.c.id)
        )
        return int(result.scalar_one())


async def update_oracle(db: Database, oracle_id: int, spec: OracleSpec, *, now: datetime) -> None:
    async with db.write() as conn:
        result = await conn.execute(
            update(als_oracle)
            .where(als_oracle.c.id == oracle_id, als_oracle.c.is_active.is_(True))
            .values(
                party_id_type=spec.party_id_type,
                endpoint_value=spec.endpoint_value,
                endpoint_type=spec.endpoint_type,
                currency=spec.currency,
                is_default=spec.is_default,
                changed_at=now,
            )
        )
        if result.rowcount == 0:
            raise HubError(ErrorCode.ID_NOT_FOUND, f"Oracle {oracle_id} not found")


async def delete_oracle(db: Database, oracle_id: int, *, now: datetime) -> None:
    """Soft delete (the reference deactivates the oracle endpoint)."""
    async with db.write() as conn:
        result = await conn.execute(
            update(als_oracle)
            .where(als_oracle.c.id == oracle_id, als_oracle.c.is_active.is_(True))
            .values(is_active=False, changed_at=now)
        )
        if result.rowcount == 0:
            raise HubError(ErrorCode.ID_NOT_FOUND, f"Oracle {oracle_id} not found")


# -- resolution ----------------------------------------------------------------------------------


class Resolver:
    """Finds the FSPs that own a party: registered oracle first, built-in oracle otherwise."""

    def __init__(self, db: Database, client: OracleClient) -> None:
        self.db = db
        self.client = client

    async def _registered(self, party_id_type: str, currency: str | None) -> Oracle | None:
        async with self.db.read() as conn:
            oracles = await list_oracles(conn, party_id_type=party_id_type)
        return choose_oracle(oracles, party_id_type, currency)

    async def fsps(self, key: PartyKey, currency: str | None = None) -> list[str]:
        oracle = await self._registered(key.party_id_type, currency)
        if oracle is not None:
            entries = await self.client.lookup(oracle.endpoint_value, key, currency)
            found = matching_fsps(entries or [], key.party_sub_id)
            if found:
                return found
        async with self.db.read() as conn:
            entries = await builtin_lookup(conn, key, currency)
        return matching_fsps(entries, key.party_sub_id)

    async def register_external(self, key: PartyKey, fsp_id: str, currency: str | None) -> None:
        """Best effort: the built-in oracle already holds the mapping."""
        oracle = await self._registered(key.party_id_type, currency)
        if oracle is not None and not await self.client.register(oracle.endpoint_value, key, fsp_id, currency):
            log.info("oracle.register_not_accepted", oracle_id=oracle.id, type=key.party_id_type)

    async def remove_external(self, key: PartyKey) -> None:
        oracle = await self._registered(key.party_id_type, None)
        if oracle is not None and not await self.client.remove(oracle.endpoint_value, key):
            log.info("oracle.remove_not_accepted", oracle_id=oracle.id, type=key.party_id_type)


# -- FSPIOP use cases ----------------------------------------------------------------------------


async def _active(conn: AsyncConnection, name: str) -> bool:
    found = await find_participant(conn, name)
    return found is not None and found.is_active


def _unknown_requester(requester: str) -> HubError:
    return HubError(ErrorCode.ID_NOT_FOUND, f"FSPIOP-Source {requester!r} is not an active participant")


async def lookup_party(
    db: Database,
    resolver: Resolver,
    *,
    key: PartyKey,
    requester: str,
    destination: str | None,
    currency: str | None,
    forward_to: ForwardFactory,
    error_to_requester: ErrorFactory,
    now: datetime,
) -> Outcome:
    """``GET /parties/{Type}/{ID}[/{SubId}]``: forward to the owning FSP(s) — the given
    FSPIOP-Destination, or the oracle's answer — or answer 3204 from the hub."""
    async with db.read() as conn:
        requester_ok = await _active(conn, requester)
    fsps: list[str] = []
    if requester_ok and destination is None:
        fsps = await resolver.fsps(key, currency)
    async with db.write() as conn:
        if not requester_ok:
            await enqueue(conn, [error_to_requester(_unknown_requester(requester))], now=now)
            return Outcome.REJECTED
        if destination is not None:
            if not await _active(conn, destination):
                err = HubError(ErrorCode.DESTINATION_FSP_ERROR, f"FSPIOP-Destination {destination!r} not found")
                await enqueue(conn, [error_to_requester(err)], now=now)
                return Outcome.REJECTED
            fsps = [destination]
        if not fsps:
            await enqueue(conn, [error_to_requester(HubError(ErrorCode.PARTY_NOT_FOUND))], now=now)
            return Outcome.REJECTED
        await enqueue(conn, [forward_to(fsp) for fsp in fsps], now=now)
        return Outcome.FORWARDED


async def lookup_participant(
    db: Database,
    resolver: Resolver,
    *,
    key: PartyKey,
    requester: str,
    currency: str | None,
    reply: ForwardFactory,
    error_to_requester: ErrorFactory,
    now: datetime,
) -> Outcome:
    """``GET /participants/{Type}/{ID}[/{SubId}]``: the ALS answers itself with the first owner
    (``PUT /participants/...`` ``{fspId}``) or 3204."""
    async with db.read() as conn:
        requester_ok = await _active(conn, requester)
    fsps = await resolver.fsps(key, currency) if requester_ok else []
    async with db.write() as conn:
        if not requester_ok:
            await enqueue(conn, [error_to_requester(_unknown_requester(requester))], now=now)
            return Outcome.REJECTED
        if not fsps:
            await enqueue(conn, [error_to_requester(HubError(ErrorCode.PARTY_NOT_FOUND))], now=now)
            return Outcome.REJECTED
        await enqueue(conn, [reply(fsps[0])], now=now)
        return Outcome.ANSWERED


async def register_participant(
    db: Database,
    resolver: Resolver,
    *,
    key: PartyKey,
    requester: str,
    fsp_id: str,
    currency: str | None,
    reply: OutboundMessage,
    error_to_requester: ErrorFactory,
    now: datetime,
) -> Outcome:
    """``POST /participants/{Type}/{ID}[/{SubId}]``: store the owner, confirm to the requester."""
    async with db.write() as conn:
        if not await _active(conn, requester):
            await enqueue(conn, [error_to_requester(_unknown_requester(requester))], now=now)
            return Outcome.REJECTED
        if not await _active(conn, fsp_id):
            err = HubError(ErrorCode.ADD_PARTY_INFO_ERROR, f"fspId {fsp_id!r} is not an active participant")
            await enqueue(conn, [error_to_requester(err)], now=now)
            return Outcome.REJECTED
        try:
            async with conn.begin_nested():
                await builtin_register(conn, key, fsp_id, currency, now)
        except IntegrityError:
            # Registered concurrently by another request: this one replaces it.
            await builtin_register(conn, key, fsp_id, currency, now)
        await enqueue(conn, [reply], now=now)
    await resolver.register_external(key, fsp_id, currency)
    return Outcome.ANSWERED


@dataclass(frozen=True, slots=True)
class BatchItem:
    key: PartyKey
    fsp_id: str | None


@dataclass(frozen=True, slots=True)
class BatchResult:
    key: PartyKey
    fsp_id: str | None
    error: HubError | None


async def register_participants_batch(
    db: Database,
    resolver: Resolver,
    *,
    requester: str,
    items: Sequence[BatchItem],
    currency: str | None,
    reply: Callable[[list[BatchResult]], OutboundMessage],
    error_to_requester: ErrorFactory,
    now: datetime,
) -> Outcome:
    """``POST /participants`` (batch): each party is registered to the requester (an item naming
    another FSP gets its own errorInformation), answered with one ``PUT /participants/{requestId}``."""
    results: list[BatchResult] = []
    async with db.write() as conn:
        if not await _active(conn, requester):
            await enqueue(conn, [error_to_requester(_unknown_requester(requester))], now=now)
            return Outcome.REJECTED
        for item in items:
            owner = item.fsp_id or requester
            if owner != requester:
                err = HubError(ErrorCode.ADD_PARTY_INFO_ERROR, "fspId differs from FSPIOP-Source")
                results.append(BatchResult(item.key, item.fsp_id, err))
                continue
            await builtin_register(conn, item.key, owner, currency, now)
            results.append(BatchResult(item.key, owner, None))
        await enqueue(conn, [reply(results)], now=now)
    for r in results:
        if r.error is None and r.fsp_id is not None:
            await resolver.register_external(r.key, r.fsp_id, currency)
    return Outcome.ANSWERED


async def remove_participant(
    db: Database,
    resolver: Resolver,
    *,
    key: PartyKey,
    requester: str,
    reply: OutboundMessage,
    error_to_requester: ErrorFactory,
    now: datetime,
) -> Outcome:
    """``DELETE /participants/{Type}/{ID}[/{SubId}]``: only the owner removes its mapping."""
    async with db.write() as conn:
        if not await _active(conn, requester):
            await enqueue(conn, [error_to_requester(_unknown_requester(requester))], now=now)
            return Outcome.REJECTED
        if not await builtin_remove(conn, key, requester):
            err = HubError(ErrorCode.PARTY_NOT_FOUND, f"no {key.party_id_type} mapping owned by {requester!r}")
            await enqueue(conn, [error_to_requester(err)], now=now)
            return Outcome.REJECTED
        await enqueue(conn, [reply], now=now)
    await resolver.remove_external(key)
    return Outcome.ANSWERED


async def pass_callback(
    db: Database,
    *,
    sender: str,
    destination: str,
    forward_to: ForwardFactory,
    error_to_sender: ErrorFactory | None,
    now: datetime,
) -> Outcome:
    """A callback through the ALS (``PUT /parties/...``, ``PUT /participants/...`` and their
    ``/error``): forwarded unchanged to its FSPIOP-Destination. An unknown destination is 3201 to
    the sender, unless the message is itself an error (no error about an error)."""
    async with db.write() as conn:
        if not await _active(conn, destination):
            err = HubError(ErrorCode.DESTINATION_FSP_ERROR, f"FSPIOP-Destination {destination!r} not found")
            if error_to_sender is not None:
                await enqueue(conn, [error_to_sender(err)], now=now)
            else:
                log.warning("als.error_callback_dropped", sender=sender, destination=destination)
            return Outcome.REJECTED
        await enqueue(conn, [forward_to(destination)], now=now)
        return Outcome.FORWARDED
