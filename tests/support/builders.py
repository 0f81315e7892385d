"""Small builders for transfer tests: DFSPs with POSITION/SETTLEMENT accounts, NDC, liquidity
(as a funds-in posting, so money stays conserved) and callback endpoints, written straight into
the participants/ledger tables, plus FSPIOP prepare/fulfil bodies with a real condition."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.kernel.ids import new_id
from mojahub.kernel.timefmt import format_http_date, format_iso
from mojahub.ledger import service as ledger
from mojahub.ledger.model import RECORD_FUNDS_IN, Posting
from mojahub.participants.tables import (
    account,
    ledger_account_type,
    participant,
    participant_endpoint,
    participant_limit,
)

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
UNITS = 10_000  # hub units per whole currency unit
HUB = "Hub"


@dataclass(frozen=True)
class Dfsp:
    name: str
    participant_id: int
    position_account_id: int
    settlement_account_id: int


async def _type_id(conn: AsyncConnection, name: str) -> int:
    return int((await conn.execute(select(ledger_account_type.c.id).where(ledger_account_type.c.name == name)))
               .scalar_one())


async def _participant(conn: AsyncConnection, name: str, *, active: bool, now: datetime) -> int:
    """Create the participant unless it exists (the hub's startup may be creating ``Hub`` right now)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(dialect_insert(participant).values(
        name=name, is_active=active, is_proxy=False, created_at=now, created_by="test",
    ).on_conflict_do_nothing(index_elements=["name"]))
    return int((await conn.execute(select(participant.c.id).where(participant.c.name == name))).scalar_one())


async def _account(conn: AsyncConnection, participant_id: int, currency: str, type_name: str, *,
                   active: bool, now: datetime) -> int:
    res = await conn.execute(insert(account).values(
        participant_id=participant_id, currency=currency, ledger_account_type_id=await _type_id(conn, type_name),
        is_active=active, created_at=now, created_by="test"))
    assert res.inserted_primary_key is not None
    account_id = int(res.inserted_primary_key[0])
    await ledger.open_position(conn, account_id, now=now)
    return account_id


async def hub_accounts(conn: AsyncConnection, currency: str = "XXX", *, now: datetime = T0) -> dict[str, int]:
    hub_id = await _participant(conn, HUB, active=True, now=now)
    out = {}
    for t in ("HUB_RECONCILIATION", "HUB_MULTILATERAL_SETTLEMENT"):
        found = (await conn.execute(select(account.c.id).where(
            (account.c.participant_id == hub_id) & (account.c.currency == currency)
            & (account.c.ledger_account_type_id == await _type_id(conn, t))))).scalar_one_or_none()
        out[t] = int(found) if found is not None else await _account(conn, hub_id, currency, t, active=True, now=now)
    return out


async def dfsp(conn: AsyncConnection, name: str, *, currency: str = "XXX", ndc: int | None = 1_000_000 * UNITS,
               liquidity: int = 1_000_000 * UNITS, active: bool = True, account_active: bool = True,
               endpoint_base: str | None = None, now: datetime = T0) -> Dfsp:
    """A DFSP in ``currency``: NDC ``ndc`` (None: no limit row), ``liquidity`` funded in."""
    hub = await hub_accounts(conn, currency, now=now)
    pid = await _participant(conn, name, active=active, now=now)
    pos = await _account(conn, pid, currency, "POSITION", active=account_active, now=now)
    settle = await _account(conn, pid, currency, "SETTLEMENT", active=account_active, now=now)
    if ndc is not None:
        await conn.execute(insert(participant_limit).values(
            account_id=pos, limit_type="NET_DEBIT_CAP", value=ndc, alarm_percentage=10 * UNITS,
            is_active=True, created_at=now))
    if liquidity:
        await ledger.post(conn, [
            Posting(settle, -liquidity, RECORD_FUNDS_IN, f"funds-in-{name}-{currency}"),
            Posting(hub["HUB_RECONCILIATION"], liquidity, RECORD_FUNDS_IN, f"funds-in-{name}-{currency}"),
        ], now=now)
    if endpoint_base is not None:
        await endpoints(conn, pid, endpoint_base, now=now)
    return Dfsp(name, pid, pos, settle)


async def endpoints(conn: AsyncConnection, participant_id: int, base: str, *, now: datetime = T0) -> None:
    values = {
        "FSPIOP_CALLBACK_URL_TRANSFER_POST": f"{base}/transfers",
        "FSPIOP_CALLBACK_URL_TRANSFER_PUT": f"{base}/transfers/{{{{transferId}}}}",
        "FSPIOP_CALLBACK_URL_TRANSFER_ERROR": f"{base}/transfers/{{{{transferId}}}}/error",
    }
    await conn.execute(insert(participant_endpoint), [
        {"participant_id": participant_id, "endpoint_type": t, "value": v, "created_at": now, "changed_at": now}
        for t, v in values.items()
    ])


# -- ILP and FSPIOP bodies ---------------------------------------------------------------------


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def fulfilment_pair() -> tuple[str, str]:
    """(fulfilment, condition): a random 32-byte preimage and its SHA-256."""
    preimage = os.urandom(32)
    return b64url(preimage), b64url(hashlib.sha256(preimage).digest())


ILP_PACKET = "AYIBgQAAAAAAAASwNGxldmVsb25lLmRmc3AxLm1lci45T2RTOF91MDdDVFlkVVdEcnVBb3d0MEdmcEEwbnJKSU1BLUNSaUQ"


def prepare_body(*, payer: str, payee: str, amount: str = "100", currency: str = "XXX",
                 condition: str, expiration: datetime, transfer_id: str | None = None) -> dict[str, Any]:
    return {
        "transferId": transfer_id or new_id(),
        "payerFsp": payer,
        "payeeFsp": payee,
        "amount": {"amount": amount, "currency": currency},
        "ilpPacket": ILP_PACKET,
        "condition": condition,
        "expiration": format_iso(expiration),
    }


def fulfil_body(*, fulfilment: str | None, completed: datetime, state: str = "COMMITTED") -> dict[str, Any]:
    body: dict[str, Any] = {"completedTimestamp": format_iso(completed), "transferState": state}
    if fulfilment is not None:
        body["fulfilment"] = fulfilment
    return body


def fspiop_headers(source: str, destination: str | None = None, *, version: str = "1.1",
                   method: str = "POST", now: datetime | None = None) -> dict[str, str]:
    h = {
        "Content-Type": f"application/vnd.interoperability.transfers+json;version={version}",
        "Date": format_http_date(now or datetime.now(UTC)),
        "FSPIOP-Source": source,
    }
    if method in ("POST", "GET"):
        h["Accept"] = "application/vnd.interoperability.transfers+json;version=1"
    if destination is not None:
        h["FSPIOP-Destination"] = destination
    return h


def dumps(body: Any) -> bytes:
    return orjson.dumps(body)


def in_future(now: datetime, seconds: float = 60) -> datetime:
    return now + timedelta(seconds=seconds)


async def dfsp_accounts(conn: AsyncConnection, name: str, currency: str = "XXX") -> Dfsp:
    """The accounts of a DFSP created by ``dfsp``."""
    pid = int((await conn.execute(select(participant.c.id).where(participant.c.name == name))).scalar_one())
    ids = {}
    for t in ("POSITION", "SETTLEMENT"):
        ids[t] = int((await conn.execute(select(account.c.id).where(
            (account.c.participant_id == pid) & (account.c.currency == currency)
            & (account.c.ledger_account_type_id == await _type_id(conn, t))))).scalar_one())
    return Dfsp(name, pid, ids["POSITION"], ids["SETTLEMENT"])
