"""Settlement windows and settlements on real SQLite and PostgreSQL: close, net, walk the states
with the ledger effects the reference gives, abort, CGS, liquidity check, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.kernel.errors import HubError
from mojahub.ledger import service as ledger
from mojahub.ledger.model import PRINCIPLE_VALUE, Posting
from mojahub.participants import settlement_support as participants
from mojahub.settlement import settlements as st
from mojahub.settlement import windows
from mojahub.settlement.service import open_window_id
from mojahub.settlement.tables import window_flow
from mojahub.storage.engine import Database
from tests.support.builders import T0, UNITS, Dfsp, dfsp, hub_accounts
from tests.support.settlement_builders import commit, deferred_net_model, gross_model

NAMES = ("testfsp1", "testfsp2", "payerfsp", "payeefsp")
# The settlement collection's six transfers (Settlement-management-primary-currency-test).
TTK_TRANSFERS = [
    ("testfsp1", "testfsp2", 60), ("testfsp1", "payeefsp", 55), ("payerfsp", "testfsp1", 35),
    ("testfsp2", "payerfsp", 20), ("payeefsp", "testfsp2", 35), ("payeefsp", "payerfsp", 25),
]


async def _setup(conn: AsyncConnection, currency: str = "XXX", **model: Any) -> dict[str, Dfsp]:
    await deferred_net_model(conn, f"DEFERREDNET{currency}", currency, **model)
    return {n: await dfsp(conn, n, currency=currency) for n in NAMES}


async def _positions(conn: AsyncConnection, ids: list[int]) -> dict[int, int]:
    return {a: r.value for a, r in (await ledger.read(conn, ids)).items()}


def _err(exc: pytest.ExceptionInfo[HubError]) -> tuple[str, str]:
    return exc.value.code.code, exc.value.description


async def _walk(db: Database, sid: int, state: str, accounts: list[tuple[int, int]]) -> st.UpdateResult:
    async with db.write() as conn:
        return await st.update_accounts(
            conn, sid, [st.AccountUpdate(p, a, state, f"to {state}") for p, a in accounts], now=T0)


async def test_close_opens_the_next_window_and_aggregates_content_per_currency(db: Database) -> None:
    async with db.write() as conn:
        d = await _setup(conn)
        await hub_accounts(conn, "XTS")
        await deferred_net_model(conn, "DEFAULTDEFERREDNET", None)
        x1 = await dfsp(conn, "xts1", currency="XTS")
        x2 = await dfsp(conn, "xts2", currency="XTS")
        w = await commit(conn, d["testfsp1"], d["testfsp2"], 10)
        await commit(conn, x1, x2, 3, currency="XTS")
    async with db.write() as conn:
        opened = await windows.close_window(conn, w, "end of day", now=T0)
    assert opened.state == "OPEN"
    assert opened.id != w
    async with db.read() as conn:
        closed = await windows.get_window(conn, w)
        assert await open_window_id(conn, now=T0, lock=False) == opened.id
    assert closed.state == "CLOSED"
    assert closed.reason == "end of day"
    assert sorted((c.currency, c.ledger_account_type, c.state) for c in closed.content) == [
        ("XTS", "POSITION", "CLOSED"), ("XXX", "POSITION", "CLOSED")]


async def test_closing_an_empty_unknown_or_closed_window_is_refused_and_changes_nothing(db: Database) -> None:
    async with db.write() as conn:
        d = await _setup(conn)
        w = await open_window_id(conn, now=T0)
    with pytest.raises(HubError) as exc:
        async with db.write() as conn:
            await windows.close_window(conn, w, "r", now=T0)
    assert _err(exc) == ("3100", f"Generic validation error - Window {w} is empty")
    with pytest.raises(HubError) as exc:
        async with db.write() as conn:
            await windows.close_window(conn, 999, "r", now=T0)
    assert _err(exc) == ("3100", "Generic validation error - Window 999 does not exist")
    async with db.write() as conn:
        await commit(conn, d["testfsp1"], d["testfsp2"], 1)
        await windows.close_window(conn, w, "r", now=T0)
    with pytest.raises(HubError) as exc:
        async with db.write() as conn:
            await windows.close_window(conn, w, "again", now=T0)
    assert _err(exc) == ("3100", f"Generic validation error - Window {w} is not open")
    async with db.read() as conn:
        assert (await windows.get_window(conn, w)).reason == "r"
        assert len(await windows.find_windows(conn, windows.WindowFilter(state="OPEN"), limit=10, describe="")) == 1


async def test_ttk_settlement_scenario_nets_and_resets_positions_step_by_step(db: Database) -> None:
    async with db.write() as conn:
        d = await _setup(conn)
        hub = await hub_accounts(conn)
        mlns, recon = hub["HUB_MULTILATERAL_SETTLEMENT"], hub["HUB_RECONCILIATION"]
        pos_ids = [d[n].position_account_id for n in NAMES]
        settle_ids = [d[n].settlement_account_id for n in NAMES]
        before = await _positions(conn, [*pos_ids, *settle_ids, mlns, recon])
        for payer, payee, amount in TTK_TRANSFERS:
            w = await commit(conn, d[payer], d[payee], amount)
        await windows.close_window(conn, w, "close", now=T0)
        s = await st.create_settlement(conn, "DEFERREDNETXXX", "TESTING", [w], now=T0)
        after_transfers = await _positions(conn, [*pos_ids, *settle_ids, mlns, recon])
    assert s.state == "PENDING_SETTLEMENT"
    assert [(x.id, x.state) for x in s.windows] == [(w, "PENDING_SETTLEMENT")]
    nets = {a.id: a.net_amount for a in s.accounts}
    assert nets == {d["testfsp1"].position_account_id: 80 * UNITS, d["payeefsp"].position_account_id: 5 * UNITS,
                    d["testfsp2"].position_account_id: -75 * UNITS, d["payerfsp"].position_account_id: -10 * UNITS}
    accounts = [(a.participant_id, a.id) for a in s.accounts]

    r = await _walk(db, s.id, "PS_TRANSFERS_RECORDED", accounts)
    assert r.settlement.state == "PS_TRANSFERS_RECORDED"
    assert all(x.error is None for x in r.results)
    async with db.read() as conn:
        assert await _positions(conn, list(after_transfers)) == after_transfers

    r = await _walk(db, s.id, "PS_TRANSFERS_RESERVED", accounts)
    assert r.settlement.state == "PS_TRANSFERS_RESERVED"
    async with db.read() as conn:
        now_ = await _positions(conn, list(after_transfers))
    for n in ("testfsp2", "payerfsp"):  # net recipients back to their pre-transfer position
        assert now_[d[n].position_account_id] == before[d[n].position_account_id]
    for n in ("testfsp1", "payeefsp"):  # senders unchanged
        assert now_[d[n].position_account_id] == after_transfers[d[n].position_account_id]

    r = await _walk(db, s.id, "PS_TRANSFERS_COMMITTED", accounts)
    assert r.settlement.state == "PS_TRANSFERS_COMMITTED"
    async with db.read() as conn:
        assert await _positions(conn, list(before)) == before  # every position and hub account restored

    r = await _walk(db, s.id, "SETTLED", accounts[:1])
    assert r.settlement.state == "SETTLING"
    assert r.settlement.windows[0].state == "PENDING_SETTLEMENT"
    r = await _walk(db, s.id, "SETTLED", accounts[1:])
    assert r.settlement.state == "SETTLED"
    assert r.settlement.windows[0].state == "SETTLED"
    assert {a.state for a in r.settlement.accounts} == {"SETTLED"}
    async with db.read() as conn:
        assert await _positions(conn, list(before)) == before
        rebuilt, stored = await ledger.rebuilt_positions(conn), await ledger.stored_positions(conn)
    assert all(stored[a] == v for a, v in rebuilt.items())  # positions = sum of their ledger entries
    assert all(v == 0 for a, v in stored.items() if a not in rebuilt)


async def test_account_updates_report_per_account_errors_and_leave_those_accounts_unchanged(db: Database) -> None:
    async with db.write() as conn:
        d = await _setup(conn)
        await hub_accounts(conn)
        w = await commit(conn, d["testfsp1"], d["testfsp2"], 7)
        await windows.close_window(conn, w, "c", now=T0)
        s = await st.create_settlement(conn, "DEFERREDNETXXX", "r", [w], now=T0)
    t1, t2 = d["testfsp1"], d["testfsp2"]
    async with db.write() as conn:
        r = await st.update_accounts(conn, s.id, [
            st.AccountUpdate(t1.participant_id, t1.position_account_id, "PS_TRANSFERS_RESERVED", "skip"),
            st.AccountUpdate(t1.participant_id, 987654, "PS_TRANSFERS_RECORDED", "unknown"),
            st.AccountUpdate(t2.participant_id, t2.position_account_id, "PS_TRANSFERS_RECORDED", "ok"),
            st.AccountUpdate(t1.participant_id, t2.position_account_id, "PS_TRANSFERS_RECORDED", "mismatch"),
            st.AccountUpdate(t2.participant_id, t2.position_account_id, "PS_TRANSFERS_RECORDED", "twice"),
        ], now=T0)
    errors = [(x.error.code.code, x.error.description) if x.error else None for x in r.results]
    assert errors == [
        ("3000", "Generic client error - State change not allowed"),
        ("3000", "Generic client error - Account not found"),
        None,
        ("3000", "Generic client error - Participant and account mismatch"),
        ("3000", "Generic client error - Account already processed once"),
    ]
    states = {a.id: a.state for a in r.settlement.accounts}
    assert states == {t1.position_account_id: "PENDING_SETTLEMENT", t2.position_account_id: "PS_TRANSFERS_RECORDED"}
    assert r.settlement.state == "PENDING_SETTLEMENT"


async def test_settlement_creation_refuses_bad_models_and_windows(db: Database) -> None:
    async with db.write() as conn:
        d = await _setup(conn)
        await hub_accounts(conn, "INR")
        await gross_model(conn, "CGS", "INR")
        w = await commit(conn, d["testfsp1"], d["testfsp2"], 7)
    cases: list[tuple[str, list[int], str]] = [
        ("NOPE", [w], "Settlement model not found"),
        ("CGS", [w], "Settlement can not be created for GROSS or IMMEDIATE models"),
        ("DEFERREDNETXXX", [w], f"Inapplicable windows {w}"),  # still OPEN
        ("DEFERREDNETXXX", [w, 4242], f"Inapplicable windows {w}, 4242"),
    ]
    for model_name, ids, message in cases:
        with pytest.raises(HubError) as exc:
            async with db.write() as conn:
                await st.create_settlement(conn, model_name, "r", ids, now=T0)
        assert _err(exc) == ("3100", f"Generic validation error - {message}")
    async with db.write() as conn:
        await windows.close_window(conn, w, "c", now=T0)
        await st.create_settlement(conn, "DEFERREDNETXXX", "r", [w], now=T0)
    with pytest.raises(HubError) as exc:  # its content is already in a settlement
        async with db.write() as conn:
            await st.create_settlement(conn, "DEFERREDNETXXX", "r", [w], now=T0)
    assert _err(exc) == ("3100", f"Generic validation error - Inapplicable windows {w}")
    with pytest.raises(HubError) as exc:
        async with db.read() as conn:
            await st.get_settlement(conn, 999)
    assert _err(exc) == ("3100", "Generic validation error - Settlement not found")


async def test_abort_reverses_reserved_resets_and_the_windows_can_be_settled_again(db: Database) -> None:
    async with db.write() as conn:
        d = await _setup(conn)
        await hub_accounts(conn)
        w = await commit(conn, d["testfsp1"], d["testfsp2"], 40)
        await windows.close_window(conn, w, "c", now=T0)
        s = await st.create_settlement(conn, "DEFERREDNETXXX", "r", [w], now=T0)
        ids = [d[n].position_account_id for n in NAMES]
        before = await _positions(conn, ids)
    accounts = [(a.participant_id, a.id) for a in s.accounts]
    await _walk(db, s.id, "PS_TRANSFERS_RECORDED", accounts)
    await _walk(db, s.id, "PS_TRANSFERS_RESERVED", accounts)
    async with db.read() as conn:
        assert (await _positions(conn, ids))[d["testfsp2"].position_account_id] == 0  # recipient reset
    async with db.write() as conn:
        aborted = await st.abort_settlement(conn, s.id, "bank failure", "ref-1", now=T0)
    assert aborted.state == "ABORTED"
    assert aborted.windows[0].state == "ABORTED"
    assert {a.state for a in aborted.accounts} == {"ABORTED"}
    async with db.read() as conn:
        assert await _positions(conn, ids) == before
    async with db.write() as conn:  # aborting again only records the reason
        again = await st.abort_settlement(conn, s.id, "still aborted", None, now=T0)
        assert again.reason == "still aborted"
        s2 = await st.create_settlement(conn, "DEFERREDNETXXX", "retry", [w], now=T0)
    assert s2.state == "PENDING_SETTLEMENT"
    assert sorted(a.net_amount for a in s2.accounts) == [-40 * UNITS, 40 * UNITS]


async def test_abort_is_refused_once_a_settlement_transfer_is_committed(db: Database) -> None:
    async with db.write() as conn:
        d = await _setup(conn)
        await hub_accounts(conn)
        w = await commit(conn, d["testfsp1"], d["testfsp2"], 40)
        await windows.close_window(conn, w, "c", now=T0)
        s = await st.create_settlement(conn, "DEFERREDNETXXX", "r", [w], now=T0)
    accounts = [(a.participant_id, a.id) for a in s.accounts]
    await _walk(db, s.id, "PS_TRANSFERS_RECORDED", accounts)
    await _walk(db, s.id, "PS_TRANSFERS_RESERVED", accounts)
    await _walk(db, s.id, "PS_TRANSFERS_COMMITTED", accounts[:1])
    with pytest.raises(HubError) as exc:
        async with db.write() as conn:
            await st.abort_settlement(conn, s.id, "late", None, now=T0)
    assert "Aborting is not allowed" in exc.value.description
    await _walk(db, s.id, "PS_TRANSFERS_COMMITTED", accounts[1:])
    with pytest.raises(HubError) as exc:
        async with db.write() as conn:
            await st.abort_settlement(conn, s.id, "late", None, now=T0)
    assert _err(exc) == ("3100", f"Generic validation error - State change is not allowed for settlement "
                                 f"'{s.id}' in state 'PS_TRANSFERS_COMMITTED'")


async def test_without_auto_position_reset_only_states_are_recorded(db: Database) -> None:
    async with db.write() as conn:
        d = await _setup(conn, auto_position_reset=False)
        await hub_accounts(conn)
        w = await commit(conn, d["testfsp1"], d["testfsp2"], 9)
        await windows.close_window(conn, w, "c", now=T0)
        s = await st.create_settlement(conn, "DEFERREDNETXXX", "r", [w], now=T0)
        ids = [d[n].position_account_id for n in NAMES]
        after_transfers = await _positions(conn, ids)
    accounts = [(a.participant_id, a.id) for a in s.accounts]
    for state in ("PS_TRANSFERS_RECORDED", "PS_TRANSFERS_RESERVED", "PS_TRANSFERS_COMMITTED", "SETTLED"):
        r = await _walk(db, s.id, state, accounts)
        assert r.settlement.state == state
    async with db.read() as conn:
        assert await _positions(conn, ids) == after_transfers


async def test_require_liquidity_check_raises_the_ndc_when_a_reset_would_breach_it(db: Database) -> None:
    async with db.write() as conn:
        await deferred_net_model(conn, "DEFERREDNETXXX", "XXX", require_liquidity_check=True)
        await hub_accounts(conn)
        payer = await dfsp(conn, "payer", ndc=1000 * UNITS)
        payee = await dfsp(conn, "payee", ndc=10 * UNITS)
        w = await commit(conn, payer, payee, 50)
        await windows.close_window(conn, w, "c", now=T0)
        s = await st.create_settlement(conn, "DEFERREDNETXXX", "r", [w], now=T0)
        # The payee's position is -50; prepares since then took it to +5 (NDC 10): the +50 reset breaches it.
        await ledger.post(conn, [Posting(payee.position_account_id, 55 * UNITS, PRINCIPLE_VALUE, "later")], now=T0)
    accounts = [(a.participant_id, a.id) for a in s.accounts]
    await _walk(db, s.id, "PS_TRANSFERS_RECORDED", accounts)
    await _walk(db, s.id, "PS_TRANSFERS_RESERVED", accounts)
    async with db.read() as conn:
        assert await participants.net_debit_cap(conn, payer.position_account_id) == 1000 * UNITS
        assert await participants.net_debit_cap(conn, payee.position_account_id) == 60 * UNITS


async def test_continuous_gross_settlement_moves_settlement_accounts_at_commit(db: Database) -> None:
    async with db.write() as conn:
        await _setup(conn)
        await hub_accounts(conn, "INR")
        await gross_model(conn, "CGS", "INR")
        a = await dfsp(conn, "inr1", currency="INR", liquidity=100 * UNITS)
        b = await dfsp(conn, "inr2", currency="INR", liquidity=100 * UNITS)
        w = await commit(conn, a, b, 30, currency="INR")
        pos = await _positions(conn, [a.position_account_id, b.position_account_id, a.settlement_account_id,
                                      b.settlement_account_id])
        flows = (await conn.execute(select(window_flow).where(window_flow.c.window_id == w))).all()
        opened = await windows.close_window(conn, w, "c", now=T0)
        closed = await windows.get_window(conn, w)
    assert pos == {a.position_account_id: 0, b.position_account_id: 0,
                   a.settlement_account_id: -70 * UNITS, b.settlement_account_id: -130 * UNITS}
    assert [(f.amount, f.transfer_count) for f in flows] == [(30 * UNITS, 1)]  # still in its window
    assert opened.state == "OPEN"
    assert closed.content == []  # no NET model settles INR positions


async def test_participant_window_filter_and_not_found_errors(db: Database) -> None:
    async with db.write() as conn:
        d = await _setup(conn)
        w = await commit(conn, d["testfsp1"], d["testfsp2"], 1)
    async with db.read() as conn:
        found = await windows.find_windows(
            conn, windows.WindowFilter(participant_id=d["testfsp1"].participant_id), limit=10, describe="x")
        assert [x.id for x in found] == [w]
        with pytest.raises(HubError) as exc:
            await windows.find_windows(
                conn, windows.WindowFilter(participant_id=d["payerfsp"].participant_id), limit=10,
                describe="{participantId:3}")
        assert _err(exc) == ("3100", "Generic validation error - settlementWindow by filters: {participantId:3} "
                                     "not found")
        with pytest.raises(HubError) as exc:
            await windows.find_windows(conn, windows.WindowFilter(), limit=10, describe="{}")
        assert exc.value.description.startswith("Generic validation error - Use at least one parameter")


async def test_one_settlement_nets_several_windows_and_each_currency_settles_under_its_model(db: Database) -> None:
    async with db.write() as conn:
        d = await _setup(conn)
        await hub_accounts(conn)
        await hub_accounts(conn, "XTS")
        await deferred_net_model(conn, "DEFAULTDEFERREDNET", None)
        x1 = await dfsp(conn, "xts1", currency="XTS")
        x2 = await dfsp(conn, "xts2", currency="XTS")
        w1 = await commit(conn, d["testfsp1"], d["testfsp2"], 10)
        await commit(conn, x1, x2, 4, currency="XTS")
        await windows.close_window(conn, w1, "day 1", now=T0)
        w2 = await commit(conn, d["testfsp2"], d["testfsp1"], 3)
        await commit(conn, d["payerfsp"], d["testfsp1"], 2)
        await windows.close_window(conn, w2, "day 2", now=T0)
        xxx = await st.create_settlement(conn, "DEFERREDNETXXX", "both days", [w1, w2], now=T0)
    assert {a.id: a.net_amount for a in xxx.accounts} == {
        d["testfsp1"].position_account_id: 5 * UNITS, d["testfsp2"].position_account_id: -7 * UNITS,
        d["payerfsp"].position_account_id: 2 * UNITS}
    assert [w.id for w in xxx.windows] == [w1, w2]
    accounts = [(a.participant_id, a.id) for a in xxx.accounts]
    for state in ("PS_TRANSFERS_RECORDED", "PS_TRANSFERS_RESERVED", "PS_TRANSFERS_COMMITTED", "SETTLED"):
        r = await _walk(db, xxx.id, state, accounts)
    assert r.settlement.state == "SETTLED"
    # Window 1 still holds unsettled XTS content; window 2 held only XXX.
    assert {w.id: w.state for w in r.settlement.windows} == {w1: "PENDING_SETTLEMENT", w2: "SETTLED"}
    async with db.write() as conn:
        xts = await st.create_settlement(conn, "DEFAULTDEFERREDNET", "xts", [w1], now=T0)
    assert {a.id: a.net_amount for a in xts.accounts} == {x1.position_account_id: 4 * UNITS,
                                                          x2.position_account_id: -4 * UNITS}
    accounts = [(a.participant_id, a.id) for a in xts.accounts]
    for state in ("PS_TRANSFERS_RECORDED", "PS_TRANSFERS_RESERVED", "PS_TRANSFERS_COMMITTED", "SETTLED"):
        r = await _walk(db, xts.id, state, accounts)
    assert {w.id: w.state for w in r.settlement.windows} == {w1: "SETTLED"}
    async with db.read() as conn:
        assert (await st.find_settlements(conn, st.SettlementFilter(settlement_window_id=w1), limit=10))[0].id == xts.id
        assert [s.id for s in await st.find_settlements(conn, st.SettlementFilter(currency="XXX"), limit=10)] == [
            xxx.id]
