"""Settlements (central-settlement ``/settlements``): create over closed windows for one model,
read and filter, walk each DFSP account through the settlement states with the settlement
transfers of the model (autoPositionReset), abort.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.ledger import service as ledger
from mojahub.ledger.model import Posting
from mojahub.participants import settlement_support as participants
from mojahub.settlement import model
from mojahub.settlement.model import (
    ABORTED,
    HUB_MULTILATERAL_SETTLEMENT,
    PENDING_SETTLEMENT,
    PS_TRANSFERS_COMMITTED,
    PS_TRANSFERS_RECORDED,
    PS_TRANSFERS_RESERVED,
    SETTLED,
    SETTLEMENT_STATES,
)
from mojahub.settlement.tables import (
    settlement,
    settlement_account,
    settlement_settlement_window,
    settlement_window,
    settlement_window_content,
)
from mojahub.settlement.windows import WindowView, window_flows, windows_by_ids


def _invalid(detail: str) -> HubError:
    return HubError(ErrorCode.VALIDATION_ERROR, detail)


@dataclass(frozen=True, slots=True)
class AccountView:
    id: int  # the DFSP account (central-ledger participantCurrencyId)
    participant_id: int
    state: str
    reason: str | None
    external_reference: str | None
    net_amount: int
    currency: str
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class SettlementView:
    id: int
    settlement_model: str
    state: str
    reason: str | None
    created_at: datetime
    changed_at: datetime
    windows: list[WindowView]
    accounts: list[AccountView]


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    participant_id: int
    account_id: int
    state: str
    reason: str | None
    external_reference: str | None = None


@dataclass(frozen=True, slots=True)
class AccountResult:
    """One account of a PUT: its (new) state, or the per-account error that left it unchanged."""

    participant_id: int
    account_id: int
    account: AccountView | None
    error: HubError | None


@dataclass
class UpdateResult:
    settlement: SettlementView
    results: list[AccountResult] = field(default_factory=list)


def _new_transfer_id() -> str:
    return str(uuid.uuid4())


# --- create -----------------------------------------------------------------------------------


async def create_settlement(
    conn: AsyncConnection, model_name: str, reason: str, window_ids: list[int], *, now: datetime
) -> SettlementView:
    """POST /settlements: net the windows' content of one DEFERRED NET model (reference §4.2)."""
    if not window_ids:
        raise _invalid("settlementWindows must hold at least one window")
    if len(set(window_ids)) != len(window_ids):
        raise _invalid("settlementWindows must not repeat a window")
    found = [m for m in await participants.settlement_models(conn) if m.name == model_name]
    if not found:
        raise _invalid("Settlement model not found")
    m = found[0]
    if not model.is_deferred_net(m):
        raise _invalid("Settlement can not be created for GROSS or IMMEDIATE models")
    ids = sorted(window_ids)
    stmt = select(settlement_window.c.id, settlement_window.c.state).where(settlement_window.c.id.in_(ids))
    if conn.dialect.name == "postgresql":
        stmt = stmt.order_by(settlement_window.c.id).with_for_update()
    states = {int(r.id): r.state for r in (await conn.execute(stmt)).all()}
    content_rows = (
        await conn.execute(
            select(settlement_window_content).where(
                and_(
                    settlement_window_content.c.window_id.in_(ids),
                    settlement_window_content.c.settlement_model_id == m.id,
                    settlement_window_content.c.state.in_(model.SETTLEABLE_CONTENT_STATES),
                )
            )
        )
    ).all()
    applicable = {
        r.window_id for r in content_rows if states.get(r.window_id) in model.SETTLEABLE_WINDOW_STATES
    }
    inapplicable = [w for w in window_ids if w not in applicable]
    if inapplicable:
        raise _invalid(f"Inapplicable windows {', '.join(str(w) for w in inapplicable)}")

    result = await conn.execute(
        insert(settlement).values(
            settlement_model_id=m.id, settlement_model=m.name, ledger_account_type=m.ledger_account_type,
            currency=m.currency, auto_position_reset=m.auto_position_reset,
            require_liquidity_check=m.require_liquidity_check, state=PENDING_SETTLEMENT, reason=reason,
            created_at=now, changed_at=now,
        )
    )
    assert result.inserted_primary_key is not None
    settlement_id = int(result.inserted_primary_key[0])
    await conn.execute(
        insert(settlement_settlement_window), [{"settlement_id": settlement_id, "window_id": w} for w in ids]
    )
    content_ids = [r.id for r in content_rows]
    await conn.execute(
        update(settlement_window_content)
        .where(settlement_window_content.c.id.in_(content_ids))
        .values(state=PENDING_SETTLEMENT, settlement_id=settlement_id, changed_at=now)
    )
    await conn.execute(
        update(settlement_window)
        .where(settlement_window.c.id.in_(ids))
        .values(state=PENDING_SETTLEMENT, reason=reason, changed_at=now)
    )

    # Nets from the per-window aggregate: O(account pairs), not O(transfers).
    scope = {(r.window_id, r.ledger_account_type, r.currency) for r in content_rows}
    flows = await window_flows(conn, ids)
    accounts = await participants.accounts_by_ids(
        conn, {a for _, f in flows for a in (f.payer_account_id, f.payee_account_id)}
    )
    selected = [
        f for w, f in flows if (w, accounts[f.payer_account_id].ledger_account_type, f.currency) in scope
    ]
    nets = model.net_positions(selected)
    if nets:
        await conn.execute(
            insert(settlement_account),
            [
                {
                    "settlement_id": settlement_id, "account_id": a, "participant_id": accounts[a].participant_id,
                    "currency": accounts[a].currency, "net_amount": net, "state": PENDING_SETTLEMENT,
                    "reason": reason, "external_reference": None, "settlement_transfer_id": None,
                    "created_at": now, "changed_at": now,
                }
                for a, net in sorted(nets.items())
            ],
        )
    return await get_settlement(conn, settlement_id)


# --- read -------------------------------------------------------------------------------------


async def _accounts(conn: AsyncConnection, settlement_ids: list[int]) -> dict[int, list[AccountView]]:
    out: dict[int, list[AccountView]] = defaultdict(list)
    if not settlement_ids:
        return out
    rows = await conn.execute(
        select(settlement_account)
        .where(settlement_account.c.settlement_id.in_(settlement_ids))
        .order_by(settlement_account.c.participant_id, settlement_account.c.account_id)
    )
    for r in rows.all():
        out[r.settlement_id].append(
            AccountView(r.account_id, r.participant_id, r.state, r.reason, r.external_reference,
                        int(r.net_amount), r.currency, r.changed_at)
        )
    return out


async def settlements_by_ids(conn: AsyncConnection, settlement_ids: list[int]) -> list[SettlementView]:
    if not settlement_ids:
        return []
    rows = (
        await conn.execute(select(settlement).where(settlement.c.id.in_(settlement_ids)).order_by(settlement.c.id))
    ).all()
    links = (
        await conn.execute(
            select(settlement_settlement_window).where(settlement_settlement_window.c.settlement_id.in_(settlement_ids))
        )
    ).all()
    windows = {w.id: w for w in await windows_by_ids(conn, sorted({link.window_id for link in links}))}
    by_settlement: dict[int, list[WindowView]] = defaultdict(list)
    for link in sorted(links, key=lambda x: (x.settlement_id, x.window_id)):
        by_settlement[link.settlement_id].append(windows[link.window_id])
    accounts = await _accounts(conn, settlement_ids)
    return [
        SettlementView(r.id, r.settlement_model, r.state, r.reason, r.created_at, r.changed_at,
                       by_settlement[r.id], accounts[r.id])
        for r in rows
    ]


async def get_settlement(conn: AsyncConnection, settlement_id: int) -> SettlementView:
    found = await settlements_by_ids(conn, [settlement_id])
    if not found:
        raise _invalid("Settlement not found")
    return found[0]


@dataclass(frozen=True, slots=True)
class SettlementFilter:
    state: str | None = None
    from_time: datetime | None = None
    to_time: datetime | None = None
    currency: str | None = None
    settlement_window_id: int | None = None
    from_window_time: datetime | None = None
    to_window_time: datetime | None = None
    participant_id: int | None = None
    account_id: int | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f) is None for f in self.__dataclass_fields__)


async def find_settlements(conn: AsyncConnection, flt: SettlementFilter, *, limit: int) -> list[SettlementView]:
    if flt.is_empty():
        raise _invalid(
            "Use at least one parameter: state, fromDateTime, toDateTime, currency, settlementWindowId, "
            "fromSettlementWindowDateTime, toSettlementWindowDateTime, participantId, accountId"
        )
    if flt.state is not None and flt.state not in SETTLEMENT_STATES:
        raise _invalid(f"state must be one of {', '.join(SETTLEMENT_STATES)}")
    stmt = select(settlement.c.id)
    if flt.state is not None:
        stmt = stmt.where(settlement.c.state == flt.state)
    if flt.from_time is not None:
        stmt = stmt.where(settlement.c.created_at >= flt.from_time)
    if flt.to_time is not None:
        stmt = stmt.where(settlement.c.created_at <= flt.to_time)
    acc_conds = []
    if flt.currency is not None:
        acc_conds.append(settlement_account.c.currency == flt.currency)
    if flt.participant_id is not None:
        acc_conds.append(settlement_account.c.participant_id == flt.participant_id)
    if flt.account_id is not None:
        acc_conds.append(settlement_account.c.account_id == flt.account_id)
    if acc_conds:
        stmt = stmt.where(settlement.c.id.in_(select(settlement_account.c.settlement_id).where(and_(*acc_conds))))
    win_conds = []
    if flt.settlement_window_id is not None:
        win_conds.append(settlement_settlement_window.c.window_id == flt.settlement_window_id)
    if flt.from_window_time is not None:
        win_conds.append(settlement_window.c.created_at >= flt.from_window_time)
    if flt.to_window_time is not None:
        win_conds.append(settlement_window.c.created_at <= flt.to_window_time)
    if win_conds:
        sub = (
            select(settlement_settlement_window.c.settlement_id)
            .select_from(
                settlement_settlement_window.join(
                    settlement_window, settlement_window.c.id == settlement_settlement_window.c.window_id
                )
            )
            .where(and_(*win_conds))
        )
        stmt = stmt.where(settlement.c.id.in_(sub))
    ids = [int(i) for i in (await conn.execute(stmt.order_by(settlement.c.id.desc()).limit(limit))).scalars()]
    if not ids:
        raise _invalid("Settlements not found")
    views = {s.id: s for s in await settlements_by_ids(conn, ids)}
    return [views[i] for i in ids]


# --- update -----------------------------------------------------------------------------------


async def _lock_settlement(conn: AsyncConnection, settlement_id: int) -> Row[Any]:
    stmt = select(settlement).where(settlement.c.id == settlement_id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    if row is None:
        raise _invalid("Settlement not found")
    return row


async def update_accounts(
    conn: AsyncConnection, settlement_id: int, updates: list[AccountUpdate], *, now: datetime
) -> UpdateResult:
    """PUT /settlements/{id} with ``participants``: move accounts one step (reference putById).

    Per-account problems (unknown account, wrong participant, repeated, illegal transition) are
    reported on that account and leave it unchanged; the others proceed.
    """
    s = await _lock_settlement(conn, settlement_id)
    s_state: str = s.state
    acc_stmt = select(settlement_account).where(settlement_account.c.settlement_id == settlement_id)
    if conn.dialect.name == "postgresql":
        acc_stmt = acc_stmt.order_by(settlement_account.c.id).with_for_update()
    rows = {int(r.account_id): r for r in (await conn.execute(acc_stmt)).all()}
    current = {a: r.state for a, r in rows.items()}
    processed: set[int] = set()
    results: list[AccountResult] = []
    moved: list[tuple[AccountUpdate, int, str | None]] = []  # update, net, settlement transfer id

    def view(account_id: int, state: str, reason: str | None, ext: str | None) -> AccountView:
        r = rows[account_id]
        return AccountView(account_id, r.participant_id, state, reason, ext, int(r.net_amount), r.currency, now)

    for u in updates:
        r = rows.get(u.account_id)
        if r is None:
            results.append(AccountResult(u.participant_id, u.account_id, None,
                                         HubError(ErrorCode.CLIENT_ERROR, "Account not found")))
            continue
        if r.participant_id != u.participant_id:
            processed.add(u.account_id)
            results.append(AccountResult(u.participant_id, u.account_id, None,
                                         HubError(ErrorCode.CLIENT_ERROR, "Participant and account mismatch")))
            continue
        if u.account_id in processed:
            results.append(AccountResult(
                u.participant_id, u.account_id, view(u.account_id, current[u.account_id], r.reason,
                                                     r.external_reference),
                HubError(ErrorCode.CLIENT_ERROR, "Account already processed once")))
            continue
        processed.add(u.account_id)
        if current[u.account_id] == u.state:
            # Same state again: accepted, only the reason/reference are recorded.
            await conn.execute(
                update(settlement_account).where(settlement_account.c.id == r.id).values(
                    reason=u.reason, external_reference=u.external_reference or r.external_reference, changed_at=now
                )
            )
            results.append(AccountResult(u.participant_id, u.account_id,
                                         view(u.account_id, u.state, u.reason, u.external_reference), None))
            continue
        if model.account_move_allowed(s_state, u.state) and current[u.account_id] != ABORTED:
            transfer_id = r.settlement_transfer_id
            if u.state == PS_TRANSFERS_RECORDED:
                transfer_id = _new_transfer_id()
            moved.append((u, int(r.net_amount), transfer_id))
            current[u.account_id] = u.state
            await conn.execute(
                update(settlement_account)
                .where(and_(settlement_account.c.id == r.id, settlement_account.c.state == r.state))
                .values(state=u.state, reason=u.reason, settlement_transfer_id=transfer_id,
                        external_reference=u.external_reference or r.external_reference, changed_at=now)
            )
            results.append(AccountResult(u.participant_id, u.account_id,
                                         view(u.account_id, u.state, u.reason, u.external_reference), None))
            continue
        results.append(AccountResult(
            u.participant_id, u.account_id,
            view(u.account_id, current[u.account_id], r.reason, r.external_reference),
            HubError(ErrorCode.CLIENT_ERROR, "State change not allowed")))

    if s.auto_position_reset and moved:
        await _settlement_transfers(
            conn, moved, {a: r.currency for a, r in rows.items()},
            require_liquidity_check=bool(s.require_liquidity_check), now=now,
        )
    settled_now = [u.account_id for u, _, _ in moved if u.state == SETTLED]
    if settled_now:
        await _settle_content(conn, settlement_id, now=now)

    change = model.next_settlement_state(s_state, current.values())
    if change is not None:
        await conn.execute(
            update(settlement).where(settlement.c.id == settlement_id).values(
                state=change[0], reason=change[1], changed_at=now
            )
        )
    return UpdateResult(await get_settlement(conn, settlement_id), results)


async def _settlement_transfers(
    conn: AsyncConnection,
    moved: list[tuple[AccountUpdate, int, str | None]],
    currency_of: dict[int, str],
    *,
    require_liquidity_check: bool,
    now: datetime,
) -> None:
    """Post the position resets of the accounts just moved (reference §4.3)."""
    hubs: dict[str, int] = {}
    postings: list[Posting] = []
    for u, net, transfer_id in moved:
        if u.state not in (PS_TRANSFERS_RESERVED, PS_TRANSFERS_COMMITTED) or net == 0:
            continue
        currency = currency_of[u.account_id]
        if currency not in hubs:
            hub = await participants.hub_account(conn, HUB_MULTILATERAL_SETTLEMENT, currency)
            if hub is None:
                raise _invalid(f"Hub {HUB_MULTILATERAL_SETTLEMENT} account for {currency} not found")
            hubs[currency] = hub
        assert transfer_id is not None, "a settlement transfer id is set at PS_TRANSFERS_RECORDED"
        legs = model.settlement_postings(
            u.state, net, dfsp_account_id=u.account_id, hub_account_id=hubs[currency], transfer_id=transfer_id
        )
        if legs and require_liquidity_check and u.state == PS_TRANSFERS_RESERVED:
            pos = (await ledger.lock(conn, [u.account_id]))[u.account_id]
            ndc = await participants.net_debit_cap(conn, u.account_id, for_update=True)
            raised = model.ndc_after_reset(ndc, pos.value, pos.reserved_value, -net)
            if raised is not None:
                await participants.set_net_debit_cap(conn, u.account_id, raised, now=now)
        postings += legs
    if postings:
        await ledger.post(conn, postings, now=now)


async def _settle_content(conn: AsyncConnection, settlement_id: int, *, now: datetime) -> None:
    """When every account of a content's currency is SETTLED, the content is SETTLED; a window
    whose content is all SETTLED is SETTLED (reference putById step 23)."""
    accounts = (
        await conn.execute(
            select(settlement_account.c.currency, settlement_account.c.state).where(
                settlement_account.c.settlement_id == settlement_id
            )
        )
    ).all()
    unsettled = {r.currency for r in accounts if r.state != SETTLED}
    contents = (
        await conn.execute(
            select(settlement_window_content).where(settlement_window_content.c.settlement_id == settlement_id)
        )
    ).all()
    done = [c.id for c in contents if c.currency not in unsettled and c.state != SETTLED]
    if not done:
        return
    await conn.execute(
        update(settlement_window_content).where(settlement_window_content.c.id.in_(done)).values(
            state=SETTLED, changed_at=now
        )
    )
    window_ids = sorted({c.window_id for c in contents if c.id in set(done)})
    all_content = (
        await conn.execute(
            select(settlement_window_content.c.window_id, settlement_window_content.c.state).where(
                settlement_window_content.c.window_id.in_(window_ids)
            )
        )
    ).all()
    open_left = {c.window_id for c in all_content if c.state != SETTLED}
    settled_windows = [w for w in window_ids if w not in open_left]
    if settled_windows:
        await conn.execute(
            update(settlement_window).where(settlement_window.c.id.in_(settled_windows)).values(
                state=SETTLED, reason="All settlement window content is SETTLED", changed_at=now
            )
        )


async def abort_settlement(
    conn: AsyncConnection, settlement_id: int, reason: str, external_reference: str | None, *, now: datetime
) -> SettlementView:
    """PUT /settlements/{id} ``{state: ABORTED}``: accounts, content and windows ABORTED (windows
    may be settled again), reserved recipient resets reversed."""
    s = await _lock_settlement(conn, settlement_id)
    s_state: str = s.state
    rows = (
        await conn.execute(select(settlement_account).where(settlement_account.c.settlement_id == settlement_id))
    ).all()
    refusal = model.abort_refusal(settlement_id, s_state, [r.state for r in rows])
    if refusal is not None:
        raise _invalid(refusal)
    if s_state == ABORTED:
        await conn.execute(
            update(settlement).where(settlement.c.id == settlement_id).values(reason=reason, changed_at=now)
        )
        return await get_settlement(conn, settlement_id)
    if s.auto_position_reset:
        postings: list[Posting] = []
        for r in rows:
            if r.state == PS_TRANSFERS_RESERVED and int(r.net_amount) < 0:
                hub = await participants.hub_account(conn, HUB_MULTILATERAL_SETTLEMENT, r.currency)
                assert hub is not None, "a reserved reset was posted against this hub account"
                postings += model.abort_postings(
                    r.state, int(r.net_amount), dfsp_account_id=r.account_id, hub_account_id=hub,
                    transfer_id=r.settlement_transfer_id or f"settlement-{settlement_id}",
                )
        if postings:
            await ledger.post(conn, postings, now=now)
    await conn.execute(
        update(settlement_account).where(settlement_account.c.settlement_id == settlement_id).values(
            state=ABORTED, reason=reason, external_reference=external_reference, changed_at=now
        )
    )
    await conn.execute(
        update(settlement_window_content).where(settlement_window_content.c.settlement_id == settlement_id).values(
            state=ABORTED, changed_at=now
        )
    )
    window_ids = select(settlement_settlement_window.c.window_id).where(
        settlement_settlement_window.c.settlement_id == settlement_id
    )
    await conn.execute(
        update(settlement_window).where(settlement_window.c.id.in_(window_ids)).values(
            state=ABORTED, reason=reason, changed_at=now
        )
    )
    await conn.execute(
        update(settlement).where(settlement.c.id == settlement_id).values(state=ABORTED, reason=reason, changed_at=now)
    )
    return await get_settlement(conn, settlement_id)


__all__ = [
    "PS_TRANSFERS_COMMITTED",
    "AccountResult",
    "AccountUpdate",
    "AccountView",
    "SettlementFilter",
    "SettlementView",
    "UpdateResult",
    "abort_settlement",
    "create_settlement",
    "find_settlements",
    "get_settlement",
    "update_accounts",
]
