"""``mojahub demo`` end to end: a real hub, two simulated DFSPs, payments and a settlement."""

from __future__ import annotations

from decimal import Decimal

from mojahub.demo import demo_settings, run_demo
from mojahub.settings import Settings


async def test_demo_moves_money_refuses_what_it_must_and_settles(db_url: str) -> None:
    """On SQLite (the default) and on PostgreSQL (``MOJAHUB_DATABASE_URL``)."""
    lines: list[str] = []
    settings = demo_settings(Settings(), db_url)
    result = await run_demo(settings, out=lines.append)

    assert [(p.state, p.error_code) for p in result.payments] == [
        ("COMPLETED", None),
        ("COMPLETED", None),
        ("ERROR_OCCURRED", "4200"),  # over the net debit cap
        ("ERROR_OCCURRED", "3100"),  # wrong fulfilment: aborted by the hub
        ("COMPLETED", None),
    ]
    # 100 + 250.5 - 40 = 310.5 net from payerfsp to payeefsp, then settled to zero.
    assert sorted(result.nets.values()) == [Decimal("-310.5"), Decimal("310.5")]
    assert result.settlement_state == "SETTLED"
    assert result.positions == {"payerfsp": Decimal(0), "payeefsp": Decimal(0)}
    text = "\n".join(lines)
    assert "position payerfsp: 0 -> 100 USD" in text
    assert "error 4200 Payer limit error" in text
    assert "invalid fulfilment" in text
    assert result.messages > 40
