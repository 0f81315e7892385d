"""Pure ledger rules: postings and their fold over positions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Ledger entry types (central-ledger ledgerEntryType), plus the hub's own for clarity.
PRINCIPLE_VALUE = "PRINCIPLE_VALUE"
INTERCHANGE_FEE = "INTERCHANGE_FEE"
HUB_FEE = "HUB_FEE"
POSITION_DEPOSIT = "POSITION_DEPOSIT"
POSITION_WITHDRAWAL = "POSITION_WITHDRAWAL"
SETTLEMENT_NET_RECIPIENT = "SETTLEMENT_NET_RECIPIENT"
SETTLEMENT_NET_SENDER = "SETTLEMENT_NET_SENDER"
SETTLEMENT_NET_ZERO = "SETTLEMENT_NET_ZERO"
RECORD_FUNDS_IN = "RECORD_FUNDS_IN"
RECORD_FUNDS_OUT = "RECORD_FUNDS_OUT"
INITIAL_POSITION = "INITIAL_POSITION"

ENTRY_TYPES = (
    PRINCIPLE_VALUE, INTERCHANGE_FEE, HUB_FEE, POSITION_DEPOSIT, POSITION_WITHDRAWAL,
    SETTLEMENT_NET_RECIPIENT, SETTLEMENT_NET_SENDER, SETTLEMENT_NET_ZERO, RECORD_FUNDS_IN,
    RECORD_FUNDS_OUT, INITIAL_POSITION,
)


@dataclass(frozen=True, slots=True)
class Posting:
    """One change of one account's position, caused by ``transfer_id``."""

    account_id: int
    change: int
    entry_type: str
    transfer_id: str


@dataclass(frozen=True, slots=True)
class AppliedPosting:
    posting: Posting
    value_after: int


def fold(start: Mapping[int, int], postings: Iterable[Posting]) -> tuple[dict[int, int], list[AppliedPosting]]:
    """Apply postings in order to the starting values; return final values and each running value."""
    values = dict(start)
    applied: list[AppliedPosting] = []
    for p in postings:
        assert p.account_id in values, f"position of account {p.account_id} not loaded"
        values[p.account_id] += p.change
        applied.append(AppliedPosting(p, values[p.account_id]))
    return values, applied
