"""ALS use cases on SQLite and PostgreSQL: built-in oracle, registered oracles (with fallback),
requester checks and the outbox messages each flow leaves behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.lookup import service as lookup
from mojahub.lookup.model import PartyKey
from mojahub.lookup.oracle_client import OracleClient
from mojahub.storage.engine import Database
from mojahub.storage.outbox import OutboundMessage, outbox
from tests.support.dfsp import DfspServer, ReceivedRequest, seed_dfsp

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MSISDN = PartyKey("MSISDN", "27713803912")


@pytest.fixture
async def resolver(db: Database) -> AsyncIterator[lookup.Resolver]:
    client = OracleClient(timeout_s=2.0)
    yield lookup.Resolver(db, client)
    await client.close()


def msg(recipient: str, path: str) -> OutboundMessage:
    return OutboundMessage(recipient=recipient, endpoint_type="X", method="PUT", path=path, headers={}, body=b"{}")


def err_to(recipient: str) -> lookup.ErrorFactory:
    def make(err: HubError) -> OutboundMessage:
        return OutboundMessage(recipient=recipient, endpoint_type="ERR", method="PUT", path="/error", headers={},
                               body=orjson.dumps(err.to_body()))

    return make


async def outbox_rows(db: Database) -> list[Any]:
    async with db.read() as conn:
        return list((await conn.execute(select(outbox).order_by(outbox.c.id))).all())


def error_code(row: Any) -> str:
    return str(orjson.loads(row.body)["errorInformation"]["errorCode"])


async def test_registered_party_is_found_by_the_builtin_oracle(db: Database, resolver: lookup.Resolver) -> None:
    await seed_dfsp(db, "payeefsp")
    outcome = await lookup.register_participant(
        db, resolver, key=MSISDN, requester="payeefsp", fsp_id="payeefsp", currency="XXX",
        reply=msg("payeefsp", "/participants/MSISDN/27713803912"), error_to_requester=err_to("payeefsp"), now=NOW,
    )
    assert outcome is lookup.Outcome.ANSWERED
    assert await resolver.fsps(MSISDN) == ["payeefsp"]
    assert await resolver.fsps(MSISDN, "XXX") == ["payeefsp"]
    assert await resolver.fsps(MSISDN, "USD") == []
    rows = await outbox_rows(db)
    assert [(r.recipient, r.path) for r in rows] == [("payeefsp", "/participants/MSISDN/27713803912")]


async def test_reregistration_moves_the_party_and_sub_ids_are_separate(db: Database,
                                                                       resolver: lookup.Resolver) -> None:
    async with db.write() as conn:
        await lookup.builtin_register(conn, MSISDN, "fsp1", None, NOW)
        await lookup.builtin_register(conn, MSISDN, "fsp2", None, NOW)
        await lookup.builtin_register(conn, PartyKey("MSISDN", "27713803912", "100"), "fsp3", None, NOW)
    assert await resolver.fsps(MSISDN) == ["fsp2"]
    assert await resolver.fsps(PartyKey("MSISDN", "27713803912", "100")) == ["fsp3"]
    assert await resolver.fsps(PartyKey("MSISDN", "27713803912", "200")) == []


async def test_unknown_requester_gets_an_undeliverable_3200_and_nothing_is_stored(
    db: Database, resolver: lookup.Resolver
) -> None:
    await seed_dfsp(db, "payeefsp")
    outcome = await lookup.register_participant(
        db, resolver, key=PartyKey("MSISDN", "1", "100"), requester="NOT_APPLICABLE", fsp_id="payeefsp",
        currency="XXX", reply=msg("NOT_APPLICABLE", "/x"), error_to_requester=err_to("NOT_APPLICABLE"), now=NOW,
    )
    assert outcome is lookup.Outcome.REJECTED
    rows = await outbox_rows(db)
    assert len(rows) == 1
    assert rows[0].recipient == "NOT_APPLICABLE"
    assert error_code(rows[0]) == "3200"
    assert await resolver.fsps(PartyKey("MSISDN", "1", "100")) == []


async def test_party_lookup_forwards_to_the_owner_or_answers_3204(db: Database, resolver: lookup.Resolver) -> None:
    await seed_dfsp(db, "payerfsp")
    await seed_dfsp(db, "payeefsp")
    async with db.write() as conn:
        await lookup.builtin_register(conn, MSISDN, "payeefsp", "XXX", NOW)

    def forward(fsp: str) -> OutboundMessage:
        return msg(fsp, "/parties/MSISDN/27713803912")

    found = await lookup.lookup_party(db, resolver, key=MSISDN, requester="payerfsp", destination=None, currency=None,
                                      forward_to=forward, error_to_requester=err_to("payerfsp"), now=NOW)
    missing = await lookup.lookup_party(db, resolver, key=PartyKey("MSISDN", "999"), requester="payerfsp",
                                        destination=None, currency=None, forward_to=forward,
                                        error_to_requester=err_to("payerfsp"), now=NOW)
    to_unknown = await lookup.lookup_party(db, resolver, key=MSISDN, requester="payerfsp", destination="nobody",
                                           currency=None, forward_to=forward, error_to_requester=err_to("payerfsp"),
                                           now=NOW)
    assert (found, missing, to_unknown) == (lookup.Outcome.FORWARDED, lookup.Outcome.REJECTED,
                                            lookup.Outcome.REJECTED)
    rows = await outbox_rows(db)
    assert rows[0].recipient == "payeefsp"
    assert rows[1].recipient == "payerfsp"
    assert error_code(rows[1]) == "3204"
    assert rows[2].recipient == "payerfsp"
    assert error_code(rows[2]) == "3201"


async def test_only_the_owner_removes_a_mapping(db: Database, resolver: lookup.Resolver) -> None:
    await seed_dfsp(db, "fsp1")
    await seed_dfsp(db, "fsp2")
    async with db.write() as conn:
        await lookup.builtin_register(conn, MSISDN, "fsp1", None, NOW)
    other = await lookup.remove_participant(db, resolver, key=MSISDN, requester="fsp2", reply=msg("fsp2", "/p"),
                                            error_to_requester=err_to("fsp2"), now=NOW)
    owner = await lookup.remove_participant(db, resolver, key=MSISDN, requester="fsp1", reply=msg("fsp1", "/p"),
                                            error_to_requester=err_to("fsp1"), now=NOW)
    assert (other, owner) == (lookup.Outcome.REJECTED, lookup.Outcome.ANSWERED)
    assert await resolver.fsps(MSISDN) == []


async def test_oracle_registry_rejects_an_active_duplicate_with_2001_and_soft_deletes(db: Database) -> None:
    spec = lookup.OracleSpec("MSISDN", "http://oracle", "URL", "XXX", True)
    first = await lookup.create_oracle(db, spec, now=NOW)
    with pytest.raises(HubError) as dup:
        await lookup.create_oracle(db, spec, now=NOW)
    assert dup.value.code is ErrorCode.INTERNAL_SERVER_ERROR
    assert dup.value.http_status == 400
    await lookup.create_oracle(db, lookup.OracleSpec("MSISDN", "http://o2", "URL", "XTS", False), now=NOW)
    await lookup.update_oracle(db, first, lookup.OracleSpec("MSISDN", "http://moved", "URL", "XXX", True), now=NOW)
    async with db.read() as conn:
        assert [o.endpoint_value for o in await lookup.list_oracles(conn, currency="XXX")] == ["http://moved"]
    await lookup.delete_oracle(db, first, now=NOW)
    with pytest.raises(HubError):
        await lookup.delete_oracle(db, first, now=NOW)
    async with db.read() as conn:
        assert [o.currency for o in await lookup.list_oracles(conn, party_id_type="MSISDN")] == ["XTS"]
    await lookup.create_oracle(db, spec, now=NOW)  # allowed again once the first is deleted


async def test_a_registered_oracle_answers_lookups(db: Database, resolver: lookup.Resolver) -> None:
    def oracle(req: ReceivedRequest) -> tuple[int, bytes, dict[str, str]]:
        assert req.path == "/participants/MSISDN/27713803912"
        return 200, b'{"partyList":[{"fspId":"externalfsp","currency":"XXX"}]}', {"Content-Type": "application/json"}

    async with DfspServer("oracle", responder=oracle) as server:
        await lookup.create_oracle(db, lookup.OracleSpec("MSISDN", server.url, "URL", None, True), now=NOW)
        assert await resolver.fsps(MSISDN) == ["externalfsp"]
        got = await server.next_request(method="GET", timeout=1)
        assert got.query == ""


@pytest.mark.parametrize("answer", [(404, b"Not found"), (200, b'{"hello":"ttk"}'), (500, b"")])
async def test_an_oracle_that_cannot_answer_falls_back_to_the_builtin(
    db: Database, resolver: lookup.Resolver, answer: tuple[int, bytes]
) -> None:
    async with db.write() as conn:
        await lookup.builtin_register(conn, MSISDN, "payeefsp", None, NOW)
    async with DfspServer("not-an-oracle", responder=lambda _r: (answer[0], answer[1], None)) as server:
        await lookup.create_oracle(db, lookup.OracleSpec("MSISDN", server.url + "/oracle", "URL", None, True),
                                   now=NOW)
        assert await resolver.fsps(MSISDN) == ["payeefsp"]
        await server.next_request(method="GET", path="/oracle/participants/MSISDN/27713803912", timeout=1)


async def test_an_unreachable_oracle_falls_back_to_the_builtin(db: Database, resolver: lookup.Resolver) -> None:
    async with db.write() as conn:
        await lookup.builtin_register(conn, MSISDN, "payeefsp", None, NOW)
    server = await DfspServer("gone").start()
    url = server.url
    await server.stop()  # connection refused from now on
    await lookup.create_oracle(db, lookup.OracleSpec("MSISDN", url, "URL", None, True), now=NOW)
    assert await resolver.fsps(MSISDN) == ["payeefsp"]


async def test_registrations_are_also_offered_to_the_registered_oracle(db: Database,
                                                                       resolver: lookup.Resolver) -> None:
    await seed_dfsp(db, "payeefsp")
    async with DfspServer("oracle", responder=lambda _r: (201, None, None)) as server:
        await lookup.create_oracle(db, lookup.OracleSpec("MSISDN", server.url, "URL", None, True), now=NOW)
        await lookup.register_participant(
            db, resolver, key=PartyKey("MSISDN", "27713803912", "7"), requester="payeefsp", fsp_id="payeefsp",
            currency="XXX", reply=msg("payeefsp", "/x"), error_to_requester=err_to("payeefsp"), now=NOW,
        )
        posted = await server.next_request(method="POST", path="/participants/MSISDN/27713803912", timeout=1)
        assert posted.json() == {"fspId": "payeefsp", "currency": "XXX", "partySubIdOrType": "7"}


async def test_batch_registration_registers_own_parties_and_flags_foreign_ones(
    db: Database, resolver: lookup.Resolver
) -> None:
    await seed_dfsp(db, "fsp1")
    captured: list[list[lookup.BatchResult]] = []

    def reply(results: list[lookup.BatchResult]) -> OutboundMessage:
        captured.append(results)
        return msg("fsp1", "/participants/req")

    items = [lookup.BatchItem(PartyKey("MSISDN", "1"), None), lookup.BatchItem(PartyKey("EMAIL", "a@b.c"), "fsp1"),
             lookup.BatchItem(PartyKey("MSISDN", "2"), "fsp9")]
    await lookup.register_participants_batch(db, resolver, requester="fsp1", items=items, currency=None, reply=reply,
                                             error_to_requester=err_to("fsp1"), now=NOW)
    assert [r.error is None for r in captured[0]] == [True, True, False]
    assert await resolver.fsps(PartyKey("EMAIL", "a@b.c")) == ["fsp1"]
    assert await resolver.fsps(PartyKey("MSISDN", "2")) == []
