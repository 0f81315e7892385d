"""Funds in / out on the real ledger (SQLite and PostgreSQL): exact postings, and a hypothesis
property — after any sequence of funds in, funds-out reserve/commit/abort, per currency all
account balances sum to the funds out still reserved (zero once none is pending), no settlement
account ever goes beyond its cover, and stored positions equal positions rebuilt from ledger
entries."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from mojahub.kernel.errors import HubError
from mojahub.ledger import service as ledger
from mojahub.participants import funds
from mojahub.participants.model import FundsCommand
from mojahub.participants.tables import account
from mojahub.storage.engine import Database, open_database
from mojahub.storage.migrate import upgrade
from tests.service.participants_builders import HUB, NOW, active_dfsp, hub_with_currencies

VALIDITY = timedelta(days=5)
CURRENCIES = ("XXX", "XTS")


def cmd(action: str, amount: int, currency: str, transfer_id: str | None = None) -> FundsCommand:
    return FundsCommand(transfer_id=transfer_id or str(uuid.uuid4()), action=action, amount=amount,
                        currency=currency, external_reference="ref", reason="test")


async def settlement_id(db: Database, name: str, currency: str) -> int:
    async with db.read() as conn:
        from mojahub.participants.service import account_balances

        return next(b.id for b in await account_balances(conn, name, currency=currency)
                    if b.ledger_account_type == "SETTLEMENT")


async def balance(db: Database, account_id: int) -> int:
    async with db.read() as conn:
        return (await ledger.read(conn, [account_id]))[account_id].value


async def test_funds_in_then_funds_out_commit_moves_exactly_the_amounts(db: Database) -> None:
    async with db.write() as conn:
        await hub_with_currencies(conn, "XXX")
        await active_dfsp(conn, "dfspa", "XXX")
    sid = await settlement_id(db, "dfspa", "XXX")
    async with db.read() as conn:
        from mojahub.participants.service import hub_account_id

        rid = int(await hub_account_id(conn, HUB, "XXX", "HUB_RECONCILIATION") or 0)
    async with db.write() as conn:
        assert await funds.record_funds(conn, cmd("recordFundsIn", 50_000_000, "XXX"), hub_name=HUB, name="dfspa",
                                        account_id=sid, now=NOW, validity=VALIDITY) is funds.Outcome.DONE
    assert (await balance(db, sid), await balance(db, rid)) == (-50_000_000, 50_000_000)
    out = cmd("recordFundsOutPrepareReserve", 20_000_000, "XXX")
    async with db.write() as conn:
        await funds.record_funds(conn, out, hub_name=HUB, name="dfspa", account_id=sid, now=NOW, validity=VALIDITY)
    assert (await balance(db, sid), await balance(db, rid)) == (-30_000_000, 50_000_000)
    async with db.write() as conn:
        await funds.resolve_funds_out(conn, hub_name=HUB, name="dfspa", account_id=sid, transfer_id=out.transfer_id,
                                      action="recordFundsOutCommit", reason="paid", now=NOW)
    assert (await balance(db, sid), await balance(db, rid)) == (-30_000_000, 30_000_000)


async def test_an_expired_funds_out_is_released_not_committed(db: Database) -> None:
    async with db.write() as conn:
        await hub_with_currencies(conn, "XXX")
        await active_dfsp(conn, "dfspb", "XXX")
    sid = await settlement_id(db, "dfspb", "XXX")
    out = cmd("recordFundsOutPrepareReserve", 10, "XXX")
    async with db.write() as conn:
        await funds.record_funds(conn, cmd("recordFundsIn", 100, "XXX"), hub_name=HUB, name="dfspb",
                                 account_id=sid, now=NOW, validity=VALIDITY)
        await funds.record_funds(conn, out, hub_name=HUB, name="dfspb", account_id=sid, now=NOW, validity=VALIDITY)
    assert await balance(db, sid) == -90
    async with db.write() as conn:
        outcome = await funds.resolve_funds_out(
            conn, hub_name=HUB, name="dfspb", account_id=sid, transfer_id=out.transfer_id,
            action="recordFundsOutCommit", reason="late", now=NOW + VALIDITY)
    assert outcome is funds.Outcome.EXPIRED
    assert await balance(db, sid) == -100
    async with db.read() as conn:
        assert await funds.pending_funds_out(conn) == {}


# ---------------------------------------------------------------------------------------------
# The property


_MIGRATED: set[str] = set()

op = st.one_of(
    st.tuples(st.just("in"), st.integers(0, 1), st.sampled_from(CURRENCIES), st.integers(1, 10**9)),
    st.tuples(st.just("out"), st.integers(0, 1), st.sampled_from(CURRENCIES), st.integers(1, 10**9)),
    st.tuples(st.just("commit"), st.integers(0, 50)),
    st.tuples(st.just("abort"), st.integers(0, 50)),
    st.tuples(st.just("resend"), st.integers(0, 50)),
)


async def _check_invariants(db: Database) -> None:
    async with db.read() as conn:
        stored = await ledger.stored_positions(conn)
        rebuilt = await ledger.rebuilt_positions(conn)
        assert {a: v for a, v in stored.items() if v} == {a: v for a, v in rebuilt.items() if v}
        currency_of = dict((await conn.execute(select(account.c.id, account.c.currency))).tuples().all())
        sums: dict[str, int] = {}
        for account_id, value in stored.items():
            sums[currency_of[account_id]] = sums.get(currency_of[account_id], 0) + value
        pending = await funds.pending_funds_out(conn)
        assert {c: s for c, s in sums.items() if s} == pending


async def _scenario(url: str, ops: list[tuple[object, ...]]) -> None:
    db = open_database(url)
    try:
        if url not in _MIGRATED:
            await upgrade(db.engine)
            _MIGRATED.add(url)
        names = [f"p{uuid.uuid4().hex[:10]}", f"q{uuid.uuid4().hex[:10]}"]
        async with db.write() as conn:
            await hub_with_currencies(conn, *CURRENCIES)
            for name in names:
                for currency in CURRENCIES:
                    await active_dfsp(conn, name, currency)
        accounts = {(i, c): await settlement_id(db, n, c) for i, n in enumerate(names) for c in CURRENCIES}
        expected = dict.fromkeys(accounts, 0)
        reserved: list[tuple[int, str, FundsCommand]] = []  # still RESERVED
        history: list[tuple[int, FundsCommand]] = []
        for o in ops:
            kind = o[0]
            if kind in ("in", "out"):
                _, who, currency, amount = o
                assert isinstance(who, int)
                assert isinstance(currency, str)
                assert isinstance(amount, int)
                action = "recordFundsIn" if kind == "in" else "recordFundsOutPrepareReserve"
                c = cmd(action, amount, currency)
                target = dict(hub_name=HUB, name=names[who], account_id=accounts[(who, currency)], now=NOW,
                              validity=VALIDITY)
                if kind == "out" and expected[(who, currency)] + amount > 0:
                    with pytest.raises(HubError) as err:
                        async with db.write() as conn:
                            await funds.record_funds(conn, c, **target)  # type: ignore[arg-type]
                    assert err.value.code.code == "4001"
                else:
                    async with db.write() as conn:
                        await funds.record_funds(conn, c, **target)  # type: ignore[arg-type]
                    expected[(who, currency)] += -amount if kind == "in" else amount
                    history.append((who, c))
                    if kind == "out":
                        reserved.append((who, currency, c))
            elif kind in ("commit", "abort") and reserved:
                k = o[1]
                assert isinstance(k, int)
                who, currency, c = reserved.pop(k % len(reserved))
                async with db.write() as conn:
                    outcome = await funds.resolve_funds_out(
                        conn, hub_name=HUB, name=names[who], account_id=accounts[(who, currency)],
                        transfer_id=c.transfer_id, action="recordFundsOutCommit" if kind == "commit"
                        else "recordFundsOutAbort", reason="r", now=NOW)
                assert outcome is funds.Outcome.DONE
                if kind == "abort":
                    expected[(who, currency)] -= c.amount
            elif kind == "resend" and history:
                k = o[1]
                assert isinstance(k, int)
                who, c = history[k % len(history)]
                async with db.write() as conn:
                    outcome = await funds.record_funds(conn, c, hub_name=HUB, name=names[who],
                                                       account_id=accounts[(who, c.currency)], now=NOW,
                                                       validity=VALIDITY)
                assert outcome is funds.Outcome.DUPLICATE
            async with db.read() as conn:
                values = await ledger.read(conn, accounts.values())
            for key, account_id in accounts.items():
                assert values[account_id].value == expected[key]
                assert values[account_id].value <= 0, "a funds out went beyond the cover"
            await _check_invariants(db)
        # Resolve whatever is still reserved: then every currency sums to zero (for these accounts too).
        for who, currency, c in reserved:
            async with db.write() as conn:
                await funds.resolve_funds_out(conn, hub_name=HUB, name=names[who],
                                              account_id=accounts[(who, currency)], transfer_id=c.transfer_id,
                                              action="recordFundsOutCommit", reason="end", now=NOW)
        async with db.read() as conn:
            assert await funds.pending_funds_out(conn) == {}
        await _check_invariants(db)
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=10))
def test_funds_movements_keep_every_currency_balanced(backend: str, request: pytest.FixtureRequest,
                                                      ops: list[tuple[object, ...]]) -> None:
    url = str(request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url"))
    asyncio.run(_scenario(url, ops))



async def test_concurrent_resends_of_one_funds_in_post_it_once(db: Database) -> None:
    async with db.write() as conn:
        await hub_with_currencies(conn, "XXX")
        await active_dfsp(conn, "dfspc", "XXX")
    sid = await settlement_id(db, "dfspc", "XXX")
    c = cmd("recordFundsIn", 700, "XXX")

    async def send() -> funds.Outcome:
        async with db.write() as conn:
            return await funds.record_funds(conn, c, hub_name=HUB, name="dfspc", account_id=sid, now=NOW,
                                            validity=VALIDITY)

    outcomes = await asyncio.gather(*(send() for _ in range(6)))
    assert sorted(o.value for o in outcomes) == ["done"] + ["duplicate"] * 5
    assert await balance(db, sid) == -700


async def test_the_sweeper_releases_expired_funds_out_reservations_only(db: Database) -> None:
    from mojahub.kernel.clock import FixedClock

    async with db.write() as conn:
        await hub_with_currencies(conn, "XXX")
        await active_dfsp(conn, "dfspd", "XXX")
    sid = await settlement_id(db, "dfspd", "XXX")
    old, fresh = cmd("recordFundsOutPrepareReserve", 30, "XXX"), cmd("recordFundsOutPrepareReserve", 20, "XXX")
    async with db.write() as conn:
        await funds.record_funds(conn, cmd("recordFundsIn", 100, "XXX"), hub_name=HUB, name="dfspd",
                                 account_id=sid, now=NOW, validity=VALIDITY)
        await funds.record_funds(conn, old, hub_name=HUB, name="dfspd", account_id=sid, now=NOW, validity=VALIDITY)
        await funds.record_funds(conn, fresh, hub_name=HUB, name="dfspd", account_id=sid,
                                 now=NOW + timedelta(days=1), validity=VALIDITY)
    assert await balance(db, sid) == -50
    clock = FixedClock(NOW + VALIDITY)
    sweeper = asyncio.create_task(funds.sweep_funds_out(db, clock, interval_s=0.05, batch=1))
    try:
        for _ in range(200):
            if await balance(db, sid) == -80:
                break
            await asyncio.sleep(0.05)
    finally:
        sweeper.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sweeper
    assert await balance(db, sid) == -80
    async with db.read() as conn:
        assert await funds.pending_funds_out(conn) == {"XXX": 20}
    async with db.write() as conn:  # the released one can no longer be committed
        outcome = await funds.resolve_funds_out(conn, hub_name=HUB, name="dfspd", account_id=sid,
                                                transfer_id=old.transfer_id, action="recordFundsOutCommit",
                                                reason="late", now=clock.now())
    assert outcome is funds.Outcome.IGNORED
