"""Settlement use cases called by other contexts, inside their transaction.

``record_committed`` is called by the clearing core in its commit transaction: it assigns the
commits to the OPEN window, folds them into ``window_flow`` and, for a currency settled by an
IMMEDIATE GROSS model (CGS), settles each transfer at once. Windows, settlements and reports are
in ``windows.py``, ``settlements.py`` and ``reports.py``.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.ledger import service as ledger
from mojahub.ledger.model import PRINCIPLE_VALUE, Posting
from mojahub.participants import settlement_support as participants
from mojahub.settlement import model
from mojahub.settlement.model import OPEN, POSITION, SETTLEMENT, Flow
from mojahub.settlement.tables import settlement_open_window, settlement_window, window_flow
from mojahub.storage.pgbatch import Batch, unnest

POINTER_ID = 1

# Settlement models change rarely (operator API) but every commit batch needs them: a per-process,
# per-database cache for at most MODELS_CACHE_S, so an operator's change applies to commits within
# that time in every process (``forget_settlement_models`` drops it at once in this process).
MODELS_CACHE_S = 1.0
_models_cache: weakref.WeakKeyDictionary[Engine, tuple[float, list[participants.SettlementModelRecord]]] = (
    weakref.WeakKeyDictionary()
)


def forget_settlement_models() -> None:
    """Drop the cached settlement models (after an operator created or changed one)."""
    _models_cache.clear()


async def _active_models(conn: AsyncConnection) -> list[participants.SettlementModelRecord]:
    engine = conn.engine.sync_engine
    mono = time.monotonic()
    hit = _models_cache.get(engine)
    if hit is not None and hit[0] > mono:
        return hit[1]
    models = [m for m in await participants.settlement_models(conn) if m.is_active]
    _models_cache[engine] = (mono + MODELS_CACHE_S, models)
    return models


@dataclass(frozen=True, slots=True)
class CommittedFlow:
    """One committed transfer (or several folded) from a payer to a payee account.

    ``ledger_account_type`` is the type of both accounts (POSITION for principal value,
    INTERCHANGE_FEE for fee entries); ``transfer_id`` names the transfer in the gross-settlement
    ledger entries of a CGS currency (folded flows of a CGS currency must carry one each)."""

    payer_account_id: int
    payee_account_id: int
    currency: str
    amount: int
    count: int = 1
    transfer_id: str | None = None
    ledger_account_type: str = POSITION


async def open_window_id(conn: AsyncConnection, *, now: datetime, lock: bool = True) -> int:
    """The id of the OPEN window. With ``lock`` the pointer row is held ``FOR KEY SHARE`` until
    commit (PostgreSQL), so a concurrent close waits for this transaction and a commit that
    waited for a close reads the window the close opened."""
    stmt = select(settlement_open_window.c.window_id).where(settlement_open_window.c.id == POINTER_ID)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=True, key_share=True)
    window_id = (await conn.execute(stmt)).scalar_one_or_none()
    if window_id is not None:
        return int(window_id)
    # The migration seeds the pointer; this only runs on a database whose pointer was removed.
    result = await conn.execute(
        insert(settlement_window).values(state=OPEN, reason="first window", created_at=now, changed_at=now)
    )
    assert result.inserted_primary_key is not None
    new_id = int(result.inserted_primary_key[0])
    await conn.execute(insert(settlement_open_window).values(id=POINTER_ID, window_id=new_id))
    return new_id


def _fold(flows: Sequence[CommittedFlow]) -> dict[tuple[int, int], Flow]:
    folded: dict[tuple[int, int], Flow] = {}
    for f in flows:
        assert f.amount >= 0, "a committed flow moves value from payer to payee"
        assert f.count >= 0
        key = (f.payer_account_id, f.payee_account_id)
        prev = folded.get(key)
        folded[key] = (
            Flow(key[0], key[1], f.currency, f.amount, f.count)
            if prev is None
            else Flow(key[0], key[1], f.currency, prev.amount + f.amount, prev.count + f.count)
        )
    return folded


async def _upsert_flows(conn: AsyncConnection, window_id: int, folded: dict[tuple[int, int], Flow]) -> None:
    rows = [
        {
            "window_id": window_id, "payer_account_id": f.payer_account_id, "payee_account_id": f.payee_account_id,
            "currency": f.currency, "amount": f.amount, "transfer_count": f.count,
        }
        for _, f in sorted(folded.items())
    ]
    if not rows:
        return
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = dialect_insert(window_flow).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[window_flow.c.window_id, window_flow.c.payer_account_id, window_flow.c.payee_account_id],
        set_={
            "amount": window_flow.c.amount + stmt.excluded.amount,
            "transfer_count": window_flow.c.transfer_count + stmt.excluded.transfer_count,
        },
    )
    await conn.execute(stmt)


async def _settle_gross(conn: AsyncConnection, flows: Sequence[CommittedFlow], *, now: datetime) -> None:
    """CGS (reference settlement.md §5): for currencies whose model is IMMEDIATE GROSS, reverse
    each transfer's position legs and move the amount between the SETTLEMENT accounts."""
    models = await _active_models(conn)
    if not any(model.is_gross_immediate(m) for m in models):
        return
    gross = [
        f for f in flows
        if model.is_gross_immediate(model.resolve_model(models, f.ledger_account_type, f.currency))
    ]
    if not gross:
        return
    pairs = await participants.paired_accounts(
        conn, [a for f in gross for a in (f.payer_account_id, f.payee_account_id)], SETTLEMENT
    )
    postings: list[Posting] = []
    for f in gross:
        payer_s, payee_s = pairs.get(f.payer_account_id), pairs.get(f.payee_account_id)
        if payer_s is None or payee_s is None:
            raise HubError(
                ErrorCode.GENERIC_SETTLEMENT_ERROR,
                f"gross settlement in {f.currency} needs a SETTLEMENT account for payer and payee",
            )
        postings += model.gross_postings(
            Flow(f.payer_account_id, f.payee_account_id, f.currency, f.amount, f.count),
            payer_settlement_id=payer_s, payee_settlement_id=payee_s,
            transfer_id=f.transfer_id or "gross-settlement", entry_type=PRINCIPLE_VALUE,
        )
    await ledger.post(conn, postings, now=now)


async def record_committed(conn: AsyncConnection, flows: Sequence[CommittedFlow], *, now: datetime) -> int:
    """Attach committed transfers to the open window (and settle CGS ones); returns the window id."""
    window_id = await open_window_id(conn, now=now)
    await _upsert_flows(conn, window_id, _fold(flows))
    await _settle_gross(conn, flows, now=now)
    return window_id


async def gross_settlement_active(conn: AsyncConnection) -> bool:
    """Whether any active model settles IMMEDIATE GROSS (then commits need ``record_committed``)."""
    return any(model.is_gross_immediate(m) for m in await _active_models(conn))


WINDOW_CTE = "settlement_window_now"


def add_committed(batch: Batch, flows: Sequence[CommittedFlow]) -> str:
    """PostgreSQL fast path of ``record_committed`` for net settlement (storage.pgbatch): the
    pointer row read ``FOR KEY SHARE`` and the flows upserted into the open window, as CTEs of
    ``batch``. Returns the SQL expression of the window id, for the caller's rows. Only when
    ``gross_settlement_active`` is false; the caller checks the window id came back non-null
    (``missing_window``)."""
    batch.with_(WINDOW_CTE, (
        f"SELECT window_id FROM settlement_open_window WHERE id = {POINTER_ID} FOR KEY SHARE"
    ))
    window = f"(SELECT window_id FROM {WINDOW_CTE})"
    folded = [f for _, f in sorted(_fold(flows).items())]
    batch.with_("settlement_flows", (
        "INSERT INTO window_flow AS wf (window_id, payer_account_id, payee_account_id, currency, amount, "
        f"transfer_count) SELECT {window}, u.payer, u.payee, u.currency, u.amount, u.count FROM "
        + unnest(batch, [
            ("payer", "int4", [f.payer_account_id for f in folded]),
            ("payee", "int4", [f.payee_account_id for f in folded]),
            ("currency", "text", [f.currency for f in folded]),
            ("amount", "int8", [f.amount for f in folded]),
            ("count", "int4", [f.count for f in folded]),
        ])
        + f" WHERE {window} IS NOT NULL"
        " ON CONFLICT (window_id, payer_account_id, payee_account_id) DO UPDATE SET "
        "amount = wf.amount + excluded.amount, transfer_count = wf.transfer_count + excluded.transfer_count"
    ))
    batch.output("settlement_window_id", window)
    return window


def missing_window(outputs: dict[str, object]) -> bool:
    """True if ``add_committed`` found no open-window pointer (a damaged database: the migration
    seeds it); the caller then redoes the batch through ``record_committed``, which recreates it."""
    return "settlement_window_id" in outputs and outputs["settlement_window_id"] is None
