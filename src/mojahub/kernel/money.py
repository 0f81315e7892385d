"""Money inside the hub: an integer count of 1/10,000 units plus a currency code.

FSPIOP carries amounts as strings (``"100.5"``) and the Admin API as JSON numbers; both are
parsed and formatted only here. Never a float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

SCALE = 4
UNITS_PER_WHOLE = 10**SCALE
# central-ledger stores DECIMAL(18,4): at most 18 significant digits, 4 of them decimals.
PRECISION = 18
MAX_UNITS = 10**PRECISION - 1

# FSPIOP v1.1 Amount: no sign, no leading zeros, no trailing zeros, <= 4 decimals.
FSPIOP_AMOUNT_RE = re.compile(r"^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[1-9])?$")


class AmountError(ValueError):
    """An amount that cannot be represented exactly in hub units."""


@dataclass(frozen=True, slots=True)
class Money:
    units: int
    currency: str

    def __str__(self) -> str:
        return f"{format_amount(self.units)} {self.currency}"


def parse_amount(text: str, *, strict_fspiop: bool = True) -> int:
    """Parse an FSPIOP amount string into hub units.

    ``strict_fspiop`` applies the FSPIOP Amount pattern (no trailing zeros etc.); when False a
    looser decimal string is accepted (Admin API), still with at most 4 decimals.
    """
    if strict_fspiop and not FSPIOP_AMOUNT_RE.match(text):
        raise AmountError(f"amount {text!r} does not match the FSPIOP Amount format")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise AmountError(f"amount {text!r} is not a number") from exc
    return decimal_to_units(value)


def decimal_to_units(value: Decimal) -> int:
    if not value.is_finite():
        raise AmountError("amount must be finite")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    normalized = value.normalize()
    norm_exp = normalized.as_tuple().exponent
    assert isinstance(norm_exp, int)
    if norm_exp < -SCALE:
        raise AmountError(f"amount {value} has more than {SCALE} decimal places")
    units = int(value.scaleb(SCALE))
    if abs(units) > MAX_UNITS:
        raise AmountError(f"amount {value} has more than {PRECISION} significant digits")
    return units


def number_to_units(value: object) -> int:
    """Admin API amounts: a JSON number or a numeric string (as Joi accepts)."""
    if isinstance(value, bool):
        raise AmountError("amount must be a number")
    if isinstance(value, int):
        return decimal_to_units(Decimal(value))
    if isinstance(value, float):
        # JSON numbers arrive as floats; repr gives the shortest exact decimal text of the literal.
        return decimal_to_units(Decimal(repr(value)))
    if isinstance(value, str):
        try:
            return decimal_to_units(Decimal(value.strip()))
        except InvalidOperation as exc:
            raise AmountError(f"amount {value!r} is not a number") from exc
    if isinstance(value, Decimal):
        return decimal_to_units(value)
    raise AmountError("amount must be a number")


def units_to_decimal(units: int) -> Decimal:
    return (Decimal(units).scaleb(-SCALE)).normalize() if units else Decimal(0)


def format_amount(units: int) -> str:
    """FSPIOP rendering: no trailing zeros, no exponent (``1000000`` not ``1E+6``)."""
    text = format(units_to_decimal(units), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
