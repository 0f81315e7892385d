"""The liquidity and net-debit-cap check of a reservation (transfers-and-ledger.md §3.4). Pure.

    effective            = position + reserved
    liquidity cover      = -(settlement account value)      # funds in makes it negative
    amount > cover - effective  -> 4001 Payer FSP insufficient liquidity
    amount > ndc   - effective  -> 4200 Payer limit error

A batch applies the check in arrival order; each accepted reservation raises ``position`` for the
next one (the caller folds the running value).
"""

from __future__ import annotations

from dataclasses import dataclass

from mojahub.kernel.errors import ErrorCode


@dataclass(frozen=True, slots=True)
class Limits:
    liquidity_cover: int
    net_debit_cap: int | None  # None: no active NDC -> nothing may be reserved


def liquidity_cover(settlement_value: int | None) -> int:
    return -settlement_value if settlement_value is not None else 0


def check_reserve(position: int, reserved: int, limits: Limits, amount: int) -> ErrorCode | None:
    """None when ``amount`` fits; otherwise the error that rejects the reservation."""
    assert amount > 0, "a transfer amount is positive"
    effective = position + reserved
    if amount > limits.liquidity_cover - effective:
        return ErrorCode.PAYER_FSP_INSUFFICIENT_LIQUIDITY
    if limits.net_debit_cap is None or amount > limits.net_debit_cap - effective:
        return ErrorCode.PAYER_LIMIT_ERROR
    return None
