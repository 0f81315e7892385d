"""Pure settlement rules: which model settles a flow, multilateral nets, the settlement state
machine (central-settlement's, see reference settlement.md §2) and the postings of settlement
transfers (§4.3). No I/O, no clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from mojahub.ledger.model import (
    SETTLEMENT_NET_RECIPIENT,
    SETTLEMENT_NET_SENDER,
    SETTLEMENT_NET_ZERO,
    Posting,
)

# Settlement window (and window content) states.
OPEN = "OPEN"
PROCESSING = "PROCESSING"
CLOSED = "CLOSED"
PENDING_SETTLEMENT = "PENDING_SETTLEMENT"
SETTLED = "SETTLED"
ABORTED = "ABORTED"
FAILED = "FAILED"
WINDOW_STATES = (OPEN, PROCESSING, CLOSED, PENDING_SETTLEMENT, SETTLED, ABORTED, FAILED)

# Settlement and settlement-account states.
PS_TRANSFERS_RECORDED = "PS_TRANSFERS_RECORDED"
PS_TRANSFERS_RESERVED = "PS_TRANSFERS_RESERVED"
PS_TRANSFERS_COMMITTED = "PS_TRANSFERS_COMMITTED"
SETTLING = "SETTLING"
SETTLEMENT_STATES = (
    PENDING_SETTLEMENT, PS_TRANSFERS_RECORDED, PS_TRANSFERS_RESERVED, PS_TRANSFERS_COMMITTED, SETTLING,
    SETTLED, ABORTED,
)
ACCOUNT_STATES = (
    PENDING_SETTLEMENT, PS_TRANSFERS_RECORDED, PS_TRANSFERS_RESERVED, PS_TRANSFERS_COMMITTED, SETTLED, ABORTED,
)

# Model enumerations.
GROSS = "GROSS"
NET = "NET"
IMMEDIATE = "IMMEDIATE"
DEFERRED = "DEFERRED"
MULTILATERAL = "MULTILATERAL"
BILATERAL = "BILATERAL"
POSITION = "POSITION"
SETTLEMENT = "SETTLEMENT"
HUB_MULTILATERAL_SETTLEMENT = "HUB_MULTILATERAL_SETTLEMENT"

# Windows a settlement may take (with content still CLOSED or ABORTED for the model).
SETTLEABLE_WINDOW_STATES = (CLOSED, ABORTED, PENDING_SETTLEMENT)
SETTLEABLE_CONTENT_STATES = (CLOSED, ABORTED)


class ModelLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def is_active(self) -> bool: ...
    @property
    def granularity(self) -> str: ...
    @property
    def delay(self) -> str: ...
    @property
    def currency(self) -> str | None: ...
    @property
    def ledger_account_type(self) -> str: ...


M = TypeVar("M", bound=ModelLike)


def resolve_model(models: Sequence[M], ledger_account_type: str, currency: str) -> M | None:
    """The model that settles ``ledger_account_type`` in ``currency``: the one for that currency,
    else the default model (no currency) — but only for a currency no model names (reference:
    central-settlement window close)."""
    active = [m for m in models if m.is_active]
    for m in active:
        if m.ledger_account_type == ledger_account_type and m.currency == currency:
            return m
    named = {m.currency for m in active if m.currency is not None}
    if currency in named:
        return None
    for m in active:
        if m.ledger_account_type == ledger_account_type and m.currency is None:
            return m
    return None


def is_gross_immediate(model: ModelLike | None) -> bool:
    return model is not None and model.granularity == GROSS and model.delay == IMMEDIATE


def is_deferred_net(model: ModelLike) -> bool:
    return model.granularity == NET and model.delay == DEFERRED


@dataclass(frozen=True, slots=True)
class Flow:
    """Committed value from a payer account to a payee account (one window, folded)."""

    payer_account_id: int
    payee_account_id: int
    currency: str
    amount: int
    count: int


def net_positions(flows: Iterable[Flow]) -> dict[int, int]:
    """Multilateral net per account: positive = net sender (owes), negative = net recipient.
    Per currency the nets sum to zero (each flow adds +a and -a)."""
    nets: dict[int, int] = defaultdict(int)
    for f in flows:
        nets[f.payer_account_id] += f.amount
        nets[f.payee_account_id] -= f.amount
    return dict(nets)


# --- settlement account state machine (central-settlement putById) -----------------------------

_NEXT_ACCOUNT_STATE = {
    PENDING_SETTLEMENT: PS_TRANSFERS_RECORDED,
    PS_TRANSFERS_RECORDED: PS_TRANSFERS_RESERVED,
    PS_TRANSFERS_RESERVED: PS_TRANSFERS_COMMITTED,
    PS_TRANSFERS_COMMITTED: SETTLED,
    SETTLING: SETTLED,
}


def account_move_allowed(settlement_state: str, requested: str) -> bool:
    """An account may move to the state that follows the *settlement's* current state."""
    return _NEXT_ACCOUNT_STATE.get(settlement_state) == requested


def next_settlement_state(current: str, account_states: Iterable[str]) -> tuple[str, str] | None:
    """After an update: the settlement's new (state, reason), or None when it stays."""
    counts: dict[str, int] = defaultdict(int)
    for s in account_states:
        counts[s] += 1
    if current == PENDING_SETTLEMENT and counts[PENDING_SETTLEMENT] == 0:
        return PS_TRANSFERS_RECORDED, "All settlement accounts are PS_TRANSFERS_RECORDED"
    if current == PS_TRANSFERS_RECORDED and counts[PS_TRANSFERS_RECORDED] == 0:
        return PS_TRANSFERS_RESERVED, "All settlement accounts are PS_TRANSFERS_RESERVED"
    if current == PS_TRANSFERS_RESERVED and counts[PS_TRANSFERS_RESERVED] == 0:
        return PS_TRANSFERS_COMMITTED, "All settlement accounts are PS_TRANSFERS_COMMITTED"
    if current in (PS_TRANSFERS_COMMITTED, SETTLING) and counts[PS_TRANSFERS_COMMITTED] == 0:
        return SETTLED, "All settlement accounts are SETTLED"
    if current == PS_TRANSFERS_COMMITTED and counts[SETTLED] > 0:
        return SETTLING, "Some settlement accounts are SETTLED"
    return None


def abort_refusal(settlement_id: int, state: str, account_states: Iterable[str]) -> str | None:
    """Why an abort is refused, or None when allowed (reference: domain/settlement abortById)."""
    if state in (PS_TRANSFERS_COMMITTED, SETTLING, SETTLED):
        return f"State change is not allowed for settlement '{settlement_id}' in state '{state}'"
    if state == PS_TRANSFERS_RESERVED and PS_TRANSFERS_COMMITTED in set(account_states):
        return (
            f"At least one settlement transfer is committed for settlement '{settlement_id}'. "
            "Aborting is not allowed."
        )
    return None


# --- settlement transfers (autoPositionReset) --------------------------------------------------


def entry_type_for(net: int) -> str:
    if net > 0:
        return SETTLEMENT_NET_SENDER
    if net < 0:
        return SETTLEMENT_NET_RECIPIENT
    return SETTLEMENT_NET_ZERO


def settlement_postings(
    requested: str, net: int, *, dfsp_account_id: int, hub_account_id: int, transfer_id: str
) -> list[Posting]:
    """Ledger effect of moving one account to ``requested`` (reference §4.3): net recipients'
    positions reset at RESERVED, net senders' at COMMITTED, each against the hub's multilateral
    settlement account; nothing at RECORDED or SETTLED, nothing for a zero net."""
    moves = (requested == PS_TRANSFERS_RESERVED and net < 0) or (requested == PS_TRANSFERS_COMMITTED and net > 0)
    if not moves:
        return []
    entry = entry_type_for(net)
    return [
        Posting(dfsp_account_id, -net, entry, transfer_id),
        Posting(hub_account_id, net, entry, transfer_id),
    ]


def abort_postings(
    account_state: str, net: int, *, dfsp_account_id: int, hub_account_id: int, transfer_id: str
) -> list[Posting]:
    """Undo a reserved recipient reset when a settlement is aborted."""
    if account_state != PS_TRANSFERS_RESERVED or net >= 0:
        return []
    entry = entry_type_for(net)
    return [
        Posting(dfsp_account_id, net, entry, transfer_id),
        Posting(hub_account_id, -net, entry, transfer_id),
    ]


def ndc_after_reset(ndc: int | None, position: int, reserved: int, change: int) -> int | None:
    """requireLiquidityCheck: when the reset would breach the NDC, the NDC rises by the change
    (reference settlementTransfersReserve). Returns the new NDC, or None to keep it."""
    if ndc is None:
        return None
    if ndc - position - reserved - change < 0:
        return ndc + change
    return None


def gross_postings(
    flow: Flow, *, payer_settlement_id: int, payee_settlement_id: int, transfer_id: str, entry_type: str
) -> list[Posting]:
    """Continuous gross settlement of one committed transfer: the position legs are reversed and
    the amount moves between the SETTLEMENT accounts (payer's rises: less cover; payee's falls)."""
    a = flow.amount
    return [
        Posting(flow.payer_account_id, -a, entry_type, transfer_id),
        Posting(flow.payee_account_id, a, entry_type, transfer_id),
        Posting(payer_settlement_id, a, entry_type, transfer_id),
        Posting(payee_settlement_id, -a, entry_type, transfer_id),
    ]


def group_by_currency(nets: Mapping[int, int], currency_of: Mapping[int, str]) -> dict[str, dict[int, int]]:
    out: dict[str, dict[int, int]] = defaultdict(dict)
    for account_id, net in nets.items():
        out[currency_of[account_id]][account_id] = net
    return dict(out)
