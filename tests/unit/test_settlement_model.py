"""Pure settlement rules: model resolution, multilateral nets (hypothesis: they sum to zero per
currency), the account/settlement state machine, settlement-transfer postings."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from mojahub.ledger.model import fold
from mojahub.settlement import model as m


@dataclass(frozen=True)
class Model:
    id: int
    is_active: bool
    granularity: str
    delay: str
    currency: str | None
    ledger_account_type: str


MODELS = [
    Model(1, True, "NET", "DEFERRED", "XXX", "POSITION"),
    Model(2, True, "NET", "DEFERRED", None, "POSITION"),
    Model(3, True, "GROSS", "IMMEDIATE", "INR", "POSITION"),
    Model(4, True, "NET", "DEFERRED", "INR", "INTERCHANGE_FEE"),
]


def test_a_currency_model_wins_and_the_default_covers_only_unnamed_currencies() -> None:
    assert m.resolve_model(MODELS, "POSITION", "XXX") == MODELS[0]
    assert m.resolve_model(MODELS, "POSITION", "XTS") == MODELS[1]
    assert m.resolve_model(MODELS, "POSITION", "INR") == MODELS[2]
    assert m.resolve_model(MODELS, "INTERCHANGE_FEE", "INR") == MODELS[3]
    assert m.resolve_model(MODELS, "INTERCHANGE_FEE", "XXX") is None
    assert m.is_gross_immediate(MODELS[2])
    assert not m.is_gross_immediate(MODELS[0])


def test_inactive_models_are_ignored() -> None:
    models = [Model(1, False, "NET", "DEFERRED", "XXX", "POSITION"), MODELS[1]]
    assert m.resolve_model(models, "POSITION", "XXX") == MODELS[1]


flows = st.lists(
    st.builds(
        m.Flow,
        payer_account_id=st.integers(1, 8),
        payee_account_id=st.integers(1, 8),
        currency=st.sampled_from(["XXX", "XTS"]),
        amount=st.integers(0, 10**15),
        count=st.integers(1, 5),
    ),
    max_size=60,
)


@given(flows)
def test_multilateral_nets_sum_to_zero_per_currency(fs: list[m.Flow]) -> None:
    by_currency: dict[str, list[m.Flow]] = {}
    for f in fs:
        by_currency.setdefault(f.currency, []).append(f)
    for currency_flows in by_currency.values():
        nets = m.net_positions(currency_flows)
        assert sum(nets.values()) == 0
        for account, net in nets.items():
            sent = sum(f.amount for f in currency_flows if f.payer_account_id == account)
            received = sum(f.amount for f in currency_flows if f.payee_account_id == account)
            assert net == sent - received


@given(st.lists(st.integers(-10**12, 10**12), min_size=1, max_size=10))
def test_settlement_transfers_reset_every_position_and_leave_the_hub_at_zero(deltas: list[int]) -> None:
    """Positions after the window = nets; RESERVED then COMMITTED postings bring all back to 0."""
    nets = {i + 1: d for i, d in enumerate(deltas)}
    nets[len(deltas) + 1] = -sum(deltas)  # the multilateral balancing account
    hub = 999
    values = {**nets, hub: 0}
    postings = []
    for state in (m.PS_TRANSFERS_RECORDED, m.PS_TRANSFERS_RESERVED, m.PS_TRANSFERS_COMMITTED, m.SETTLED):
        for account, net in nets.items():
            postings += m.settlement_postings(state, net, dfsp_account_id=account, hub_account_id=hub,
                                              transfer_id=f"s{account}")
    final, _ = fold(values, postings)
    assert all(v == 0 for v in final.values())


def test_recipient_reset_at_reserved_and_its_abort_reversal_cancel_out() -> None:
    reserve = m.settlement_postings(m.PS_TRANSFERS_RESERVED, -70, dfsp_account_id=1, hub_account_id=9,
                                    transfer_id="t")
    undo = m.abort_postings(m.PS_TRANSFERS_RESERVED, -70, dfsp_account_id=1, hub_account_id=9, transfer_id="t")
    assert [(p.account_id, p.change, p.entry_type) for p in reserve] == [
        (1, 70, "SETTLEMENT_NET_RECIPIENT"), (9, -70, "SETTLEMENT_NET_RECIPIENT")]
    final, _ = fold({1: -70, 9: 0}, reserve + undo)
    assert final == {1: -70, 9: 0}
    assert m.settlement_postings(m.PS_TRANSFERS_RESERVED, 70, dfsp_account_id=1, hub_account_id=9,
                                 transfer_id="t") == []  # senders move at COMMITTED
    assert m.abort_postings(m.PS_TRANSFERS_RECORDED, -70, dfsp_account_id=1, hub_account_id=9,
                            transfer_id="t") == []


def test_accounts_move_only_to_the_state_after_the_settlements_state() -> None:
    assert m.account_move_allowed(m.PENDING_SETTLEMENT, m.PS_TRANSFERS_RECORDED)
    assert m.account_move_allowed(m.SETTLING, m.SETTLED)
    assert not m.account_move_allowed(m.PENDING_SETTLEMENT, m.PS_TRANSFERS_RESERVED)
    assert not m.account_move_allowed(m.SETTLED, m.SETTLED)
    assert not m.account_move_allowed(m.ABORTED, m.PS_TRANSFERS_RECORDED)


def test_settlement_state_follows_its_accounts() -> None:
    R, V, C, S = m.PS_TRANSFERS_RECORDED, m.PS_TRANSFERS_RESERVED, m.PS_TRANSFERS_COMMITTED, m.SETTLED
    assert m.next_settlement_state(m.PENDING_SETTLEMENT, [R, m.PENDING_SETTLEMENT]) is None
    assert m.next_settlement_state(m.PENDING_SETTLEMENT, [R, R]) == (R, "All settlement accounts are " + R)
    assert m.next_settlement_state(R, [V, V])[0] == V  # type: ignore[index]
    assert m.next_settlement_state(V, [C, C])[0] == C  # type: ignore[index]
    assert m.next_settlement_state(C, [S, C]) == (m.SETTLING, "Some settlement accounts are SETTLED")
    assert m.next_settlement_state(m.SETTLING, [S, S])[0] == S  # type: ignore[index]
    assert m.next_settlement_state(C, [C, C]) is None


def test_abort_is_refused_after_commit() -> None:
    assert m.abort_refusal(5, m.PS_TRANSFERS_RESERVED, [m.PS_TRANSFERS_RESERVED]) is None
    assert "Aborting is not allowed" in (m.abort_refusal(5, m.PS_TRANSFERS_RESERVED, [m.PS_TRANSFERS_COMMITTED]) or "")
    assert m.abort_refusal(5, m.SETTLING, []) == "State change is not allowed for settlement '5' in state 'SETTLING'"


def test_ndc_rises_by_the_reset_only_when_it_would_be_breached() -> None:
    assert m.ndc_after_reset(100, position=-50, reserved=0, change=50) is None
    assert m.ndc_after_reset(10, position=5, reserved=0, change=50) == 60
    assert m.ndc_after_reset(None, position=5, reserved=0, change=50) is None


def test_gross_settlement_reverses_positions_and_moves_settlement_accounts() -> None:
    legs = m.gross_postings(m.Flow(1, 2, "INR", 30, 1), payer_settlement_id=11, payee_settlement_id=12,
                            transfer_id="t", entry_type="PRINCIPLE_VALUE")
    final, _ = fold({1: 30, 2: -30, 11: -100, 12: -100}, legs)
    assert final == {1: 0, 2: 0, 11: -70, 12: -130}
    assert sum(p.change for p in legs) == 0
