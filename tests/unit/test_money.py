from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mojahub.kernel.money import MAX_UNITS, AmountError, format_amount, number_to_units, parse_amount


@pytest.mark.parametrize(
    ("text", "units"),
    [("0", 0), ("1", 10_000), ("100.5", 1_005_000), ("0.0001", 1), ("12345678901234.5678", 123456789012345678)],
)
def test_fspiop_amounts_parse_to_exact_units(text: str, units: int) -> None:
    assert parse_amount(text) == units


@pytest.mark.parametrize("text", ["100.50", "0100", "-5", "1.23456", "5.ABC", "", "1e5", " 1"])
def test_amounts_outside_the_fspiop_format_are_rejected(text: str) -> None:
    with pytest.raises(AmountError):
        parse_amount(text)


def test_more_than_eighteen_significant_digits_is_rejected() -> None:
    with pytest.raises(AmountError):
        parse_amount("123456789012345.1")


@pytest.mark.parametrize(("value", "units"), [(5000, 50_000_000), ("5000", 50_000_000), (12.5, 125_000)])
def test_admin_amounts_accept_numbers_and_numeric_strings(value: object, units: int) -> None:
    assert number_to_units(value) == units


@pytest.mark.parametrize("value", [True, None, "abc", 1.23456, [1]])
def test_admin_amounts_reject_non_numbers_and_excess_decimals(value: object) -> None:
    with pytest.raises(AmountError):
        number_to_units(value)


@given(st.integers(min_value=0, max_value=MAX_UNITS))
def test_format_then_parse_round_trips(units: int) -> None:
    text = format_amount(units)
    assert parse_amount(text) == units
    assert Decimal(text) * 10_000 == units
