"""What the simulator adds to kernel.ilp: minor units and party ILP addresses."""

from __future__ import annotations

from mojahub.kernel import ilp
from mojahub.sim.ilp import minor_units, party_address


def test_minor_units_follow_the_currency_exponent() -> None:
    assert minor_units(1_230_000, "USD") == 12300  # 123 USD = 12,300 cents
    assert minor_units(1_230_000, "JPY") == 123
    assert minor_units(1_230_000, "KWD") == 123_000
    assert minor_units(1, "USD") == 0  # below a cent rounds down


def test_party_address_is_a_valid_ilp_address_even_for_msisdn_plus_and_email() -> None:
    for id_type, id_value in (("MSISDN", "+27713803912"), ("EMAIL", "a.b@example.com"), ("ALIAS", "x y")):
        address = party_address("g.payeefsp", id_type, id_value)
        assert ilp.is_ilp_address(address), address
    assert party_address("g.payeefsp", "MSISDN", "27713803912") == "g.payeefsp.msisdn.27713803912"
