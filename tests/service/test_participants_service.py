"""Participants use cases on SQLite and PostgreSQL: the hub participant, settlement-model-driven
accounts, activation, limits history, and the FSPIOP edge directory cache."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mojahub.fspiop.participants_directory import ParticipantDirectory
from mojahub.kernel.errors import HubError
from mojahub.ledger import service as ledger
from mojahub.participants import service
from mojahub.participants.settlement_models import create_settlement_model
from mojahub.participants.tables import participant, participant_limit
from mojahub.storage.engine import Database
from tests.service.participants_builders import HUB, NOW, active_dfsp, hub_with_currencies, settlement_model


async def test_ensure_hub_participant_is_idempotent(db: Database) -> None:
    first = await service.ensure_hub_participant(db, HUB, now=NOW)
    second = await service.ensure_hub_participant(db, HUB, now=NOW)
    assert first == second
    assert first.is_active
    async with db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(participant))).scalar_one() == 1


async def test_a_currency_with_two_models_gives_the_dfsp_both_pairs_of_accounts(db: Database) -> None:
    async with db.write() as conn:
        await hub_with_currencies(conn, "INR")
        await create_settlement_model(conn, settlement_model("CGS", "INR", delay="IMMEDIATE", granularity="GROSS",
                                                             interchange="BILATERAL"), now=NOW)
        await create_settlement_model(conn, settlement_model("INTERCHANGEFEE", "INR", ledger="INTERCHANGE_FEE",
                                                             settlement="INTERCHANGE_FEE_SETTLEMENT"), now=NOW)
        created = await service.create_participant(conn, hub_name=HUB, name="testfsp3", currency="INR", now=NOW)
    assert [(a.ledger_account_type, a.is_active) for a in created.accounts] == [
        ("POSITION", False), ("SETTLEMENT", False), ("INTERCHANGE_FEE", False),
        ("INTERCHANGE_FEE_SETTLEMENT", False)]
    async with db.write() as conn:
        await service.initial_position_and_limits(conn, "testfsp3", currency="INR", limit_type="NET_DEBIT_CAP",
                                                  limit_value=10, initial_position=0, now=NOW)
        view = await service.get_participant(conn, "testfsp3")
    assert all(a.is_active for a in view.accounts)


async def test_a_second_model_for_the_same_currency_and_ledger_type_is_refused(db: Database) -> None:
    async with db.write() as conn:
        await hub_with_currencies(conn, "XXX")
        await create_settlement_model(conn, settlement_model("DEFERREDNETXXX", "XXX"), now=NOW)
    with pytest.raises(HubError) as err:
        async with db.write() as conn:
            await create_settlement_model(conn, settlement_model("OTHERXXX", "XXX"), now=NOW)
    assert err.value.code.code == "3000"
    assert "DEFERREDNETXXX" in err.value.description


async def test_initial_position_goes_through_the_ledger(db: Database) -> None:
    async with db.write() as conn:
        await hub_with_currencies(conn, "XXX")
        view = await active_dfsp(conn, "dfspa", "XXX", initial_position=1_500_000)
    position_id = next(a.id for a in view.accounts if a.ledger_account_type == "POSITION")
    async with db.read() as conn:
        assert (await ledger.read(conn, [position_id]))[position_id].value == 1_500_000
        assert (await ledger.rebuilt_positions(conn))[position_id] == 1_500_000
        found = await service.clearing_accounts(conn, "dfspa", "XXX")
    assert found is not None
    assert (found.net_debit_cap, found.position_account_active) == (10**10, True)


async def test_limit_updates_keep_history_and_one_active_row(db: Database) -> None:
    async with db.write() as conn:
        await hub_with_currencies(conn, "XXX")
        await active_dfsp(conn, "dfspa", "XXX", ndc=100)
        await service.update_limit(conn, "dfspa", currency="XXX", limit_type="NET_DEBIT_CAP", value=200,
                                   alarm_percentage=200_000, now=NOW)
        await service.update_limit(conn, "dfspa", currency="XXX", limit_type="NET_DEBIT_CAP", value=300,
                                   alarm_percentage=200_000, now=NOW)
    async with db.read() as conn:
        limits = await service.list_limits(conn, "dfspa")
        rows = (await conn.execute(select(participant_limit.c.value, participant_limit.c.is_active)
                                   .order_by(participant_limit.c.id))).all()
    assert [(lim.value, lim.alarm_percentage) for lim in limits] == [(300, 200_000)]
    assert [(r.value, bool(r.is_active)) for r in rows] == [(100, False), (200, False), (300, True)]


async def test_a_failed_participant_creation_leaves_nothing_behind(db: Database) -> None:
    async with db.write() as conn:
        await service.ensure_hub(conn, HUB, NOW)
        for t in ("HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"):
            await service.create_hub_account(conn, hub_name=HUB, name=HUB, currency="XXX", account_type=t, now=NOW)
    with pytest.raises(HubError) as err:  # no settlement model at all
        async with db.write() as conn:
            await service.create_participant(conn, hub_name=HUB, name="dfspa", currency="XXX", now=NOW)
    assert err.value.code.code == "6000"
    async with db.read() as conn:
        assert await service.find_participant(conn, "dfspa") is None


async def test_directory_caches_for_the_ttl_and_forgets_on_invalidate(db: Database) -> None:
    clock = [100.0]
    directory = ParticipantDirectory(db, ttl_s=1.0, monotonic=lambda: clock[0])
    assert await directory.lookup("dfspa") is None
    async with db.write() as conn:
        await hub_with_currencies(conn, "XXX")
        await active_dfsp(conn, "dfspa", "XXX")
    assert await directory.lookup("dfspa") is None  # cached negative answer, within the TTL
    clock[0] += 1.5
    assert (await directory.require_active("dfspa")).name == "dfspa"
    async with db.write() as conn:
        await service.set_participant_active(conn, "dfspa", False)
    assert (await directory.require_active("dfspa")).is_active  # still cached
    directory.invalidate("dfspa")
    with pytest.raises(HubError) as err:
        await directory.require_active("dfspa")
    assert err.value.code.code == "3100"
    with pytest.raises(HubError) as unknown:
        await directory.require_active("nobody")
    assert unknown.value.code.code == "3200"
    assert "nobody" in unknown.value.description


async def test_concurrent_directory_misses_share_one_read(db: Database) -> None:
    import asyncio

    async with db.write() as conn:
        await hub_with_currencies(conn, "XXX")
        await active_dfsp(conn, "dfspa", "XXX")
    directory = ParticipantDirectory(db, ttl_s=5.0)
    from mojahub.fspiop.participants_directory import LOOKUPS

    misses_before = LOOKUPS.labels("miss")._value.get()
    found = await asyncio.gather(*(directory.lookup("dfspa") for _ in range(20)))
    assert {f.name for f in found if f is not None} == {"dfspa"}
    assert LOOKUPS.labels("miss")._value.get() - misses_before == 1


async def test_concurrent_creates_of_one_participant_make_one_and_refuse_the_rest(db: Database) -> None:
    import asyncio

    async with db.write() as conn:
        await hub_with_currencies(conn, "XXX")

    async def create() -> str:
        try:
            async with db.write() as conn:
                await service.create_participant(conn, hub_name=HUB, name="racer", currency="XXX", now=NOW)
        except HubError as err:
            return err.code.code
        return "created"

    results = await asyncio.gather(*(create() for _ in range(5)))
    assert sorted(results) == ["3000"] * 4 + ["created"]
    async with db.read() as conn:
        view = await service.get_participant(conn, "racer")
    assert [a.ledger_account_type for a in view.accounts] == ["POSITION", "SETTLEMENT"]
