"""Settlement use cases. ``record_committed`` is called by the clearing core inside its commit
transaction: it assigns the commits to the OPEN window and folds them into ``window_flow``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.settlement.tables import settlement_window, window_flow

OPEN = "OPEN"


@dataclass(frozen=True, slots=True)
class CommittedFlow:
    """One committed transfer (or several folded) from a payer to a payee position account."""

    payer_account_id: int
    payee_account_id: int
    currency: str
    amount: int
    count: int = 1


async def open_window_id(conn: AsyncConnection, *, now: datetime, lock: bool = True) -> int:
    """The id of the OPEN window, created if there is none. With ``lock`` the window row is held
    with a share lock until commit, so a concurrent close waits for this transaction."""
    stmt = select(settlement_window.c.id).where(settlement_window.c.state == OPEN)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=True)
    window_id = (await conn.execute(stmt)).scalar_one_or_none()
    if window_id is not None:
        return int(window_id)
    result = await conn.execute(
        insert(settlement_window).values(state=OPEN, reason="first window", created_at=now, changed_at=now)
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


async def record_committed(conn: AsyncConnection, flows: Sequence[CommittedFlow], *, now: datetime) -> int:
    """Attach committed transfers to the open window; returns the window id."""
    window_id = await open_window_id(conn, now=now)
    folded: dict[tuple[int, int], CommittedFlow] = {}
    for f in flows:
        key = (f.payer_account_id, f.payee_account_id)
        prev = folded.get(key)
        folded[key] = f if prev is None else CommittedFlow(
            f.payer_account_id, f.payee_account_id, f.currency, prev.amount + f.amount, prev.count + f.count
        )
    for (payer, payee), f in sorted(folded.items()):
        changed = await conn.execute(
            update(window_flow)
            .where(
                (window_flow.c.window_id == window_id)
                & (window_flow.c.payer_account_id == payer)
                & (window_flow.c.payee_account_id == payee)
            )
            .values(
                amount=window_flow.c.amount + f.amount,
                transfer_count=window_flow.c.transfer_count + f.count,
            )
        )
        if changed.rowcount == 0:
            await conn.execute(
                insert(window_flow).values(
                    window_id=window_id, payer_account_id=payer, payee_account_id=payee,
                    currency=f.currency, amount=f.amount, transfer_count=f.count,
                )
            )
    return window_id
