"""What the simulator adds to ``mojahub.kernel.ilp``: ILP amounts in the currency's minor units
and an ILP address for a party. The codec, fulfilment and condition come from the kernel."""

from __future__ import annotations

import re

# Minor-unit exponents that differ from 2 (ISO 4217); ILP amounts are in minor units.
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX",
                     "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "XXX": 4, "XTS": 4,
}
_UNITS_SCALE = 4  # hub units are 1/10,000 (kernel.money)
_NOT_ADDRESS_CHAR = re.compile(r"[^a-zA-Z0-9_~-]")


def minor_units(units: int, currency: str) -> int:
    """Hub units (1/10,000) to the currency's minor units (rounded down)."""
    exponent = _EXPONENTS.get(currency, 2)
    return int(units * 10**exponent // 10**_UNITS_SCALE)


def party_address(prefix: str, id_type: str, id_value: str) -> str:
    """``g.<fsp>.<type>.<id>`` with characters an ILP address segment cannot hold replaced by ``_``."""
    return ".".join((prefix, _NOT_ADDRESS_CHAR.sub("_", id_type.lower()) or "_",
                     _NOT_ADDRESS_CHAR.sub("_", id_value) or "_"))
