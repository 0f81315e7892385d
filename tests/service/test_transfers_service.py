"""The clearing core through its service, on real SQLite and PostgreSQL: prepare, fulfil, payee
error, expiry and GET, checked on positions, ledger entries, transfer state and the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from sqlalchemy import delete, func, select
from starlette.datastructures import Headers

from mojahub.fspiop.headers import validate_headers
from mojahub.fspiop.transfers import FspiopTransferRenderer, abort_command, fulfil_command, prepare_command
from mojahub.kernel.clock import FixedClock
from mojahub.ledger import service as ledger
from mojahub.settlement.tables import window_flow
from mojahub.storage.engine import Database
from mojahub.storage.outbox import outbox
from mojahub.transfers import store
from mojahub.transfers.model import Fulfil
from mojahub.transfers.service import TransferConfig, TransferService
from mojahub.transfers.state import State
from mojahub.transfers.tables import transfer
from tests.support import builders as b

PAYER, PAYEE = "payerfsp", "payeefsp"


@dataclass
class World:
    db: Database
    svc: TransferService
    clock: FixedClock
    payer: b.Dfsp
    payee: b.Dfsp


@pytest.fixture
async def world(db: Database) -> AsyncIterator[World]:
    async with db.write() as conn:
        payer = await b.dfsp(conn, PAYER, ndc=1_000 * b.UNITS, liquidity=5_000 * b.UNITS)
        payee = await b.dfsp(conn, PAYEE)
    clock = FixedClock(b.T0)
    svc = TransferService(db, clock, FspiopTransferRenderer("Hub"), TransferConfig(batch_window_s=0))
    yield World(db, svc, clock, payer, payee)
    await svc.close()


def _headers(source: str, destination: str | None = None, *, method: str = "POST", version: str = "1.1") -> Any:
    raw = b.fspiop_headers(source, destination, method=method, version=version)
    return validate_headers("transfers", method, Headers(headers=raw), has_body=True)


async def prepare(w: World, *, amount: str = "100", source: str = PAYER, payer: str = PAYER, payee: str = PAYEE,
                  expires_in: float = 60, transfer_id: str | None = None) -> tuple[str, str, bytes]:
    fulfilment, condition = b.fulfilment_pair()
    body = b.prepare_body(payer=payer, payee=payee, amount=amount, condition=condition,
                          expiration=b.in_future(w.clock.now(), expires_in), transfer_id=transfer_id)
    raw = b.dumps(body)
    await w.svc.submit(prepare_command(_headers(source), raw))
    return body["transferId"], fulfilment, raw


def fulfil_cmd(w: World, tid: str, fulfilment: str | None, *, state: str = "COMMITTED", source: str = PAYEE,
               destination: str | None = PAYER, version: str = "1.1") -> Fulfil:
    raw = b.dumps(b.fulfil_body(fulfilment=fulfilment, completed=w.clock.now(), state=state))
    return fulfil_command(tid, _headers(source, destination, method="PUT", version=version), raw,
                          now=w.clock.now(), future_tolerance_ms=200, max_age_s=300)


async def error_from_payee(w: World, tid: str, code: str = "5101", description: str = "Payee rejected") -> None:
    raw = b.dumps({"errorInformation": {"errorCode": code, "errorDescription": description}})
    await w.svc.submit(abort_command(tid, _headers(PAYEE, PAYER, method="PUT"), raw))


async def sent(w: World, *, clear: bool = True) -> list[dict[str, Any]]:
    async with w.db.write() as conn:
        rows = (await conn.execute(select(outbox).order_by(outbox.c.id))).all()
        if clear:
            await conn.execute(delete(outbox))
    return [
        {"to": r.recipient, "endpoint": r.endpoint_type, "method": r.method, "path": r.path,
         "headers": r.headers, "body": orjson.loads(r.body) if r.body else None, "raw": r.body}
        for r in rows
    ]


async def position(w: World, account_id: int) -> int:
    async with w.db.read() as conn:
        return (await ledger.read(conn, [account_id]))[account_id].value


async def transfer_state(w: World, tid: str) -> State:
    async with w.db.read() as conn:
        t = await store.find(conn, tid)
    assert t is not None
    return t.state


async def assert_ledger_consistent(w: World) -> None:
    """Positions rebuild from ledger entries, and money is conserved: all accounts sum to what is
    still reserved in flight."""
    async with w.db.read() as conn:
        stored = await ledger.stored_positions(conn)
        rebuilt = await ledger.rebuilt_positions(conn)
        reserved = (await conn.execute(
            select(func.coalesce(func.sum(transfer.c.amount), 0)).where(transfer.c.state == State.RESERVED.value)
        )).scalar_one()
    assert {a: v for a, v in stored.items() if v} == {a: v for a, v in rebuilt.items() if v}
    assert sum(stored.values()) == int(reserved)


# -- prepare ---------------------------------------------------------------------------------


async def test_prepare_reserves_payer_position_and_forwards_the_body_unchanged(world: World) -> None:
    tid, _, raw = await prepare(world, amount="100.5")
    assert await position(world, world.payer.position_account_id) == 1_005_000
    assert await transfer_state(world, tid) == State.RESERVED
    [msg] = await sent(world)
    assert (msg["to"], msg["endpoint"], msg["method"], msg["path"]) == (
        PAYEE, "FSPIOP_CALLBACK_URL_TRANSFER_POST", "POST", "/transfers")
    assert msg["raw"] == raw
    assert msg["headers"]["FSPIOP-Source"] == PAYER
    assert msg["headers"]["FSPIOP-Destination"] == PAYEE
    await assert_ledger_consistent(world)


async def test_prepare_beyond_liquidity_cover_is_rejected_with_4001(world: World) -> None:
    async with world.db.write() as conn:
        await b.dfsp(conn, "poorfsp", ndc=10_000 * b.UNITS, liquidity=50 * b.UNITS)
    tid, _, _ = await prepare(world, source="poorfsp", payer="poorfsp", amount="51")
    assert await transfer_state(world, tid) == State.ABORTED_REJECTED
    [msg] = await sent(world)
    assert msg["to"] == "poorfsp"
    assert msg["path"] == f"/transfers/{tid}/error"
    assert msg["body"]["errorInformation"]["errorCode"] == "4001"
    assert msg["headers"]["FSPIOP-Source"] == "Hub"
    await assert_ledger_consistent(world)


async def test_prepare_beyond_net_debit_cap_is_rejected_with_4200_after_earlier_reservations(world: World) -> None:
    first, _, _ = await prepare(world, amount="600")
    second, _, _ = await prepare(world, amount="401")  # NDC 1000: 600 + 401 > 1000
    third, _, _ = await prepare(world, amount="400")
    assert await transfer_state(world, first) == State.RESERVED
    assert await transfer_state(world, second) == State.ABORTED_REJECTED
    assert await transfer_state(world, third) == State.RESERVED
    codes = [m["body"]["errorInformation"]["errorCode"] for m in await sent(world) if m["to"] == PAYER]
    assert codes == ["4200"]
    assert await position(world, world.payer.position_account_id) == 1_000 * b.UNITS


async def test_one_batch_folds_reservations_in_arrival_order(world: World) -> None:
    cmds = []
    for _ in range(12):  # 12 x 100 against an NDC of 1000: the last two are rejected
        _, condition = b.fulfilment_pair()
        body = b.prepare_body(payer=PAYER, payee=PAYEE, amount="100", condition=condition,
                              expiration=b.in_future(world.clock.now()))
        cmds.append(prepare_command(_headers(PAYER), b.dumps(body)))
    await world.svc.execute(cmds)
    async with world.db.read() as conn:
        states = [t.state for t in sorted((await store.load(conn, [c.transfer_id for c in cmds])).values(),
                                          key=lambda t: [c.transfer_id for c in cmds].index(t.transfer_id))]
    assert states == [State.RESERVED] * 10 + [State.ABORTED_REJECTED] * 2
    assert await position(world, world.payer.position_account_id) == 1_000 * b.UNITS
    await assert_ledger_consistent(world)


@pytest.mark.parametrize(
    ("kwargs", "detail"),
    [
        ({"source": PAYEE}, "FSPIOP-Source header should match Payer"),
        ({"payee": PAYER}, "Payer FSP and Payee FSP should be different"),
        ({"payee": "nosuchfsp"}, "Participant nosuchfsp not found"),
        ({"expires_in": -1}, "already in the past"),
        ({"amount": "0"}, "greater than zero"),
    ],
)
async def test_invalid_prepare_is_stored_invalid_and_the_payer_gets_3100(world: World, kwargs: dict[str, Any],
                                                                       detail: str) -> None:
    tid, _, _ = await prepare(world, **kwargs)
    assert await transfer_state(world, tid) == State.INVALID
    [msg] = await sent(world)
    info = msg["body"]["errorInformation"]
    assert info["errorCode"] == "3100"
    assert detail in info["errorDescription"]
    assert await position(world, world.payer.position_account_id) == 0


async def test_prepare_into_an_inactive_payee_account_is_invalid(world: World) -> None:
    async with world.db.write() as conn:
        await b.dfsp(conn, "sleepyfsp", account_active=False)
    tid, _, _ = await prepare(world, payee="sleepyfsp")
    assert await transfer_state(world, tid) == State.INVALID
    [msg] = await sent(world)
    assert "sleepyfsp XXX account is inactive" in msg["body"]["errorInformation"]["errorDescription"]


async def test_resent_prepare_gets_the_current_state_and_a_changed_one_gets_3106(world: World) -> None:
    tid, _, raw = await prepare(world)
    await sent(world)
    await world.svc.submit(prepare_command(_headers(PAYER), raw))
    [resend] = await sent(world)
    assert (resend["method"], resend["path"], resend["body"]) == ("PUT", f"/transfers/{tid}",
                                                                 {"transferState": "RESERVED"})
    changed = orjson.loads(raw)
    changed["amount"]["amount"] = "101"
    await world.svc.submit(prepare_command(_headers(PAYER), b.dumps(changed)))
    [modified] = await sent(world)
    assert modified["body"]["errorInformation"]["errorCode"] == "3106"
    assert await position(world, world.payer.position_account_id) == 100 * b.UNITS


# -- fulfil ----------------------------------------------------------------------------------


async def test_fulfil_commits_to_the_payee_and_the_open_window_and_tells_both(world: World) -> None:
    tid, fulfilment, _ = await prepare(world)
    await sent(world)
    cmd = fulfil_cmd(world, tid, fulfilment)
    await world.svc.submit(cmd)
    assert await transfer_state(world, tid) == State.COMMITTED
    assert await position(world, world.payer.position_account_id) == 100 * b.UNITS
    assert await position(world, world.payee.position_account_id) == -100 * b.UNITS
    to_payer, to_payee = await sent(world)
    assert (to_payer["to"], to_payer["method"], to_payer["raw"]) == (PAYER, "PUT", cmd.body)
    assert to_payer["headers"]["FSPIOP-Source"] == PAYEE
    assert (to_payee["to"], to_payee["raw"]) == (PAYEE, cmd.body)
    async with world.db.read() as conn:
        t = await store.find(conn, tid)
        flows = (await conn.execute(select(window_flow))).all()
    assert t is not None
    assert t.settlement_window_id is not None
    assert t.fulfilment == fulfilment
    assert [(f.payer_account_id, f.payee_account_id, f.amount) for f in flows] == [
        (world.payer.position_account_id, world.payee.position_account_id, 100 * b.UNITS)]
    await assert_ledger_consistent(world)


async def test_resent_fulfil_is_answered_with_the_state_and_a_changed_one_with_3106(world: World) -> None:
    tid, fulfilment, _ = await prepare(world)
    cmd = fulfil_cmd(world, tid, fulfilment)
    await world.svc.submit(cmd)
    await sent(world)
    await world.svc.submit(cmd)
    [resend] = await sent(world)
    assert resend["to"] == PAYEE
    assert resend["body"]["transferState"] == "COMMITTED"
    await world.svc.submit(fulfil_cmd(world, tid, fulfilment, state="RESERVED"))
    [modified] = await sent(world)
    assert modified["body"]["errorInformation"]["errorCode"] == "3106"
    assert await position(world, world.payee.position_account_id) == -100 * b.UNITS


async def test_wrong_fulfilment_aborts_releases_and_get_shows_the_cause(world: World) -> None:
    tid, _, _ = await prepare(world)
    await sent(world)
    wrong, _ = b.fulfilment_pair()
    await world.svc.submit(fulfil_cmd(world, tid, wrong))
    assert await transfer_state(world, tid) == State.ABORTED_ERROR
    assert await position(world, world.payer.position_account_id) == 0
    msgs = await sent(world)
    assert {m["to"] for m in msgs} == {PAYER, PAYEE}
    assert all(m["body"]["errorInformation"]["errorCode"] == "3100" for m in msgs)
    await world.svc.get_transfer(tid, PAYER)
    [answer] = await sent(world)
    assert answer["body"]["transferState"] == "ABORTED"
    assert answer["body"]["extensionList"] == {
        "extension": [{"key": "cause", "value": "3100: Generic validation error - invalid fulfilment"}]}
    await assert_ledger_consistent(world)


async def test_committed_without_fulfilment_is_aborted_with_3100(world: World) -> None:
    tid, _, _ = await prepare(world)
    await sent(world)
    await world.svc.submit(fulfil_cmd(world, tid, None))
    assert await transfer_state(world, tid) == State.ABORTED_ERROR
    to_payer = [m for m in await sent(world) if m["to"] == PAYER]
    assert to_payer[0]["body"]["errorInformation"]["errorCode"] == "3100"
    assert "fulfilment" in to_payer[0]["body"]["errorInformation"]["errorDescription"]


async def test_fulfil_from_someone_else_than_the_payee_aborts_with_3100(world: World) -> None:
    tid, fulfilment, _ = await prepare(world)
    await sent(world)
    await world.svc.submit(fulfil_cmd(world, tid, fulfilment, source="otherfsp"))
    assert await transfer_state(world, tid) == State.ABORTED_ERROR
    [msg] = await sent(world)
    assert msg["to"] == PAYER
    assert "FSPIOP-Source does not match payee" in msg["body"]["errorInformation"]["errorDescription"]


async def test_reserved_fulfil_commits_and_patches_the_payee(world: World) -> None:
    tid, fulfilment, _ = await prepare(world)
    await sent(world)
    await world.svc.submit(fulfil_cmd(world, tid, fulfilment, state="RESERVED"))
    assert await transfer_state(world, tid) == State.COMMITTED
    to_payer, patch = await sent(world)
    assert (to_payer["to"], to_payer["method"], to_payer["headers"]["FSPIOP-Source"]) == (PAYER, "PUT", "Hub")
    assert to_payer["body"]["transferState"] == "COMMITTED"
    assert to_payer["body"]["fulfilment"] == fulfilment
    assert (patch["to"], patch["method"], patch["endpoint"]) == (PAYEE, "PATCH", "FSPIOP_CALLBACK_URL_TRANSFER_PUT")
    assert set(patch["body"]) == {"completedTimestamp", "transferState"}
    assert patch["headers"]["FSPIOP-HTTP-Method"] == "PATCH"


async def test_reserved_fulfil_from_a_v1_0_client_and_aborted_put_change_nothing(world: World) -> None:
    tid, fulfilment, _ = await prepare(world)
    await sent(world)
    await world.svc.submit(fulfil_cmd(world, tid, fulfilment, state="RESERVED", version="1.0"))
    await world.svc.submit(fulfil_cmd(world, tid, fulfilment, state="ABORTED"))
    assert await transfer_state(world, tid) == State.RESERVED
    assert await sent(world) == []
    assert await position(world, world.payer.position_account_id) == 100 * b.UNITS


async def test_late_fulfil_gets_3303_and_the_sweeper_expires_the_transfer(world: World) -> None:
    tid, fulfilment, _ = await prepare(world, expires_in=2)
    await sent(world)
    world.clock.advance(3)
    await world.svc.submit(fulfil_cmd(world, tid, fulfilment))
    [late] = await sent(world)
    assert (late["to"], late["body"]["errorInformation"]["errorCode"]) == (PAYEE, "3303")
    assert await transfer_state(world, tid) == State.RESERVED
    assert await world.svc.sweep_once() == 1
    assert await transfer_state(world, tid) == State.EXPIRED_RESERVED
    msgs = await sent(world)
    assert sorted(m["to"] for m in msgs) == [PAYEE, PAYER]
    assert all(m["body"] == {"errorInformation": {"errorCode": "3303", "errorDescription": "Transfer expired"}}
               for m in msgs)
    assert all(m["headers"]["FSPIOP-Source"] == "Hub" for m in msgs)
    assert await position(world, world.payer.position_account_id) == 0
    assert await world.svc.sweep_once() == 0
    await assert_ledger_consistent(world)


async def test_fulfil_and_expiry_in_one_batch_resolve_the_reservation_once(world: World) -> None:
    from mojahub.transfers.model import Expire

    tid, fulfilment, _ = await prepare(world, expires_in=2)
    await sent(world)
    cmd = fulfil_cmd(world, tid, fulfilment)
    world.clock.advance(1.9)
    await world.svc.execute([cmd, Expire(tid)])  # expiry loses: not yet expired, then committed
    assert await transfer_state(world, tid) == State.COMMITTED
    world.clock.advance(5)
    assert await world.svc.sweep_once() == 0
    await assert_ledger_consistent(world)


# -- payee error -------------------------------------------------------------------------------


async def test_payee_error_aborts_releases_and_is_forwarded_to_the_payer(world: World) -> None:
    tid, _, _ = await prepare(world)
    await sent(world)
    await error_from_payee(world, tid)
    assert await transfer_state(world, tid) == State.ABORTED_ERROR
    assert await position(world, world.payer.position_account_id) == 0
    [fwd] = await sent(world)
    assert (fwd["to"], fwd["path"], fwd["headers"]["FSPIOP-Source"]) == (PAYER, f"/transfers/{tid}/error", PAYEE)
    assert fwd["body"]["errorInformation"]["errorCode"] == "5101"
    await error_from_payee(world, tid)  # the same error again changes nothing
    assert await position(world, world.payer.position_account_id) == 0
    await error_from_payee(world, tid, description="changed")
    [modified] = [m for m in await sent(world) if "errorInformation" in (m["body"] or {})]
    assert modified["body"]["errorInformation"]["errorCode"] == "3106"
    await assert_ledger_consistent(world)


async def test_payee_error_with_an_undefined_code_is_recorded_as_3100(world: World) -> None:
    tid, _, _ = await prepare(world)
    await sent(world)
    await error_from_payee(world, tid, code="9999")
    [msg] = await sent(world)
    assert msg["headers"]["FSPIOP-Source"] == "Hub"
    assert msg["body"]["errorInformation"] == {
        "errorCode": "3100", "errorDescription": "Generic validation error - API specification undefined errorCode"}


# -- GET -----------------------------------------------------------------------------------------


async def test_get_answers_the_requester_from_the_ledger(world: World) -> None:
    tid, fulfilment, _ = await prepare(world)
    await world.svc.submit(fulfil_cmd(world, tid, fulfilment))
    await sent(world)
    await world.svc.get_transfer(tid, PAYEE)
    [answer] = await sent(world)
    assert answer["to"] == PAYEE
    assert answer["body"]["transferState"] == "COMMITTED"
    assert answer["body"]["fulfilment"] == fulfilment
    assert answer["headers"]["FSPIOP-URI"] == f"/transfers/{tid}"
    assert answer["headers"]["FSPIOP-HTTP-Method"] == "PUT"
    assert answer["headers"]["Content-Type"].endswith("version=2.0")
    assert "Accept" not in answer["headers"]


async def test_get_of_an_unknown_transfer_is_3208_and_of_someone_elses_is_3000(world: World) -> None:
    tid, _, _ = await prepare(world)
    async with world.db.write() as conn:
        await b.dfsp(conn, "nosyfsp")
    await sent(world)
    await world.svc.get_transfer("01HZZZZZZZZZZZZZZZZZZZZZZZ", PAYER)
    await world.svc.get_transfer(tid, "nosyfsp")
    await world.svc.get_transfer(tid, "ghostfsp")  # unknown requester: dropped
    unknown, nosy = await sent(world)
    assert unknown["body"]["errorInformation"]["errorCode"] == "3208"
    assert (nosy["to"], nosy["body"]["errorInformation"]["errorCode"]) == ("nosyfsp", "3000")


async def test_get_after_expiry_reports_aborted_with_the_3303_cause(world: World) -> None:
    tid, _, _ = await prepare(world, expires_in=2)
    world.clock.advance(3)
    await sent(world)
    await world.svc.get_transfer(tid, PAYER)  # expires on demand, before the sweeper runs
    answer = (await sent(world))[-1]
    assert answer["body"]["transferState"] == "ABORTED"
    assert answer["body"]["extensionList"]["extension"] == [{"key": "cause", "value": "3303: Transfer expired"}]


async def test_expiry_waits_for_the_grace_period_but_a_fulfil_is_late_from_the_expiration(db: Database) -> None:
    async with db.write() as conn:
        await b.dfsp(conn, PAYER)
        await b.dfsp(conn, PAYEE)
    clock = FixedClock(b.T0)
    svc = TransferService(db, clock, FspiopTransferRenderer("Hub"), TransferConfig(batch_window_s=0,
                                                                                  expiry_grace_s=1.0))
    w = World(db, svc, clock, await _accounts(db, PAYER), await _accounts(db, PAYEE))
    tid, fulfilment, _ = await prepare(w, expires_in=2)
    clock.advance(2.5)
    assert await svc.sweep_once() == 0
    await svc.submit(fulfil_cmd(w, tid, fulfilment))
    late = [m for m in await sent(w) if m["path"].endswith("/error")]
    assert [(m["to"], m["body"]["errorInformation"]["errorCode"]) for m in late] == [(PAYEE, "3303")]
    assert await transfer_state(w, tid) == State.RESERVED
    clock.advance(1)
    assert await svc.sweep_once() == 1
    assert await transfer_state(w, tid) == State.EXPIRED_RESERVED
    await svc.close()


async def _accounts(db: Database, name: str) -> b.Dfsp:
    async with db.read() as conn:
        return await b.dfsp_accounts(conn, name)
