"""The liquidity / NDC check (pure) and its fold over a batch, with hypothesis."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mojahub.kernel.errors import ErrorCode
from mojahub.transfers.positions import Limits, check_reserve, liquidity_cover


def test_liquidity_is_checked_before_the_net_debit_cap() -> None:
    limits = Limits(liquidity_cover=100, net_debit_cap=50)
    assert check_reserve(0, 0, limits, 101) is ErrorCode.PAYER_FSP_INSUFFICIENT_LIQUIDITY
    assert check_reserve(0, 0, limits, 51) is ErrorCode.PAYER_LIMIT_ERROR
    assert check_reserve(0, 0, limits, 50) is None


def test_reserved_value_counts_against_both_limits() -> None:
    limits = Limits(liquidity_cover=100, net_debit_cap=100)
    assert check_reserve(40, 30, limits, 30) is None
    assert check_reserve(40, 30, limits, 31) is ErrorCode.PAYER_FSP_INSUFFICIENT_LIQUIDITY


def test_no_net_debit_cap_means_nothing_can_be_reserved() -> None:
    assert check_reserve(0, 0, Limits(10**9, None), 1) is ErrorCode.PAYER_LIMIT_ERROR


def test_liquidity_cover_is_the_negated_settlement_balance() -> None:
    assert liquidity_cover(-5000) == 5000
    assert liquidity_cover(None) == 0


@given(
    cover=st.integers(0, 10**6),
    ndc=st.integers(0, 10**6),
    start=st.integers(-(10**6), 10**6),
    amounts=st.lists(st.integers(1, 10**5), max_size=60),
)
def test_a_folded_batch_never_exceeds_either_limit(cover: int, ndc: int, start: int, amounts: list[int]) -> None:
    limits = Limits(cover, ndc)
    position = start
    for amount in amounts:
        if check_reserve(position, 0, limits, amount) is None:
            position += amount
            assert position <= min(cover, ndc)
        else:
            assert position + amount > min(cover, ndc)
