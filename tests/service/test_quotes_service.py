"""Quote use cases on SQLite and PostgreSQL: participant checks, recording, duplicates (ignore /
resend / 3106), answers and errors, and the outbox messages they leave."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select

from mojahub.kernel.errors import HubError
from mojahub.quoting import service as quoting
from mojahub.quoting.model import QuoteAnswer, QuoteRequest, QuoteState, UnitsMoney
from mojahub.quoting.tables import quote
from mojahub.storage.engine import Database
from mojahub.storage.outbox import OutboundMessage, outbox
from tests.support.dfsp import seed_dfsp

NOW = datetime(2026, 1, 1, tzinfo=UTC)
QID = "01HQ3Z8Y6W7T2V9X4K5M8N0P1R"
CONDITION = "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM"


def request(amount: int = 1_000_000, currency: str = "XXX") -> QuoteRequest:
    return QuoteRequest(
        quote_id=QID, transaction_id="01HQ3Z8Y6W7T2V9X4K5M8N0P1S", transaction_request_id=None,
        payer_fsp_in_body="payerfsp", payee_fsp_in_body="payeefsp", amount_type="SEND",
        amount=UnitsMoney(amount, currency), fees=None, scenario="TRANSFER", initiator="PAYER",
        initiator_type="CONSUMER", expires_at=None,
    )


ANSWER = QuoteAnswer(
    transfer_amount=UnitsMoney(1_010_000, "XXX"), payee_receive_amount=None, payee_fsp_fee=UnitsMoney(10_000, "XXX"),
    payee_fsp_commission=None, expires_at=datetime(2030, 1, 1, tzinfo=UTC), ilp_packet="AYIB", condition=CONDITION,
)


def fwd(recipient: str, method: str, path: str, body: bytes | None = b"{}") -> OutboundMessage:
    return OutboundMessage(recipient=recipient, endpoint_type="FSPIOP_CALLBACK_URL_QUOTES", method=method, path=path,
                           headers={"FSPIOP-Source": "x"}, body=body, request_id=QID)


def err_to(recipient: str) -> quoting.ErrorFactory:
    def make(err: HubError) -> OutboundMessage:
        return OutboundMessage(recipient=recipient, endpoint_type="FSPIOP_CALLBACK_URL_QUOTES", method="PUT",
                               path=f"/quotes/{QID}/error", headers={}, body=orjson.dumps(err.to_body()))

    return make


async def rows(db: Database) -> list[Any]:
    async with db.read() as conn:
        return list((await conn.execute(select(outbox).order_by(outbox.c.id))).all())


def code(row: Any) -> str:
    return str(orjson.loads(row.body)["errorInformation"]["errorCode"])


async def post(db: Database, req: QuoteRequest | None = None, hash_: str = "h1", payee: str = "payeefsp",
               ) -> quoting.Outcome:
    return await quoting.request_quote(
        db, request=req or request(), payer_fsp="payerfsp", payee_fsp=payee, request_hash=hash_,
        forward=fwd(payee, "POST", "/quotes"), error_to_payer=err_to("payerfsp"), now=NOW,
    )


async def answer(db: Database, hash_: str = "a1", source: str = "payeefsp") -> quoting.Outcome:
    return await quoting.answer_quote(
        db, quote_id=QID, source=source, destination="payerfsp", answer=ANSWER, answer_hash=hash_,
        forward_to=lambda fsp: fwd(fsp, "PUT", f"/quotes/{QID}", b'{"answer":1}'),
        error_to_sender=err_to(source), now=NOW,
    )


async def test_a_quote_between_two_fsps_is_recorded_and_forwarded_to_the_payee(db: Database) -> None:
    await seed_dfsp(db, "payerfsp")
    await seed_dfsp(db, "payeefsp")
    assert await post(db) is quoting.Outcome.FORWARDED
    async with db.read() as conn:
        stored = await quoting.load_quote(conn, QID)
    assert stored is not None
    assert stored.state is QuoteState.RECEIVED
    assert (stored.payer_fsp, stored.payee_fsp, stored.amount, stored.currency) == ("payerfsp", "payeefsp",
                                                                                     1_000_000, "XXX")
    out = await rows(db)
    assert [(r.recipient, r.method, r.path) for r in out] == [("payeefsp", "POST", "/quotes")]


async def test_the_answer_is_recorded_in_units_and_forwarded_to_the_payer(db: Database) -> None:
    await seed_dfsp(db, "payerfsp")
    await seed_dfsp(db, "payeefsp")
    await post(db)
    assert await answer(db) is quoting.Outcome.FORWARDED
    async with db.read() as conn:
        row = (await conn.execute(select(quote).where(quote.c.quote_id == QID))).one()
    assert (row.state, row.transfer_amount, row.payee_fsp_fee, row.condition) == ("ANSWERED", 1_010_000, 10_000,
                                                                                  CONDITION)
    out = await rows(db)
    assert (out[-1].recipient, out[-1].path, out[-1].body) == ("payerfsp", f"/quotes/{QID}", b'{"answer":1}')


async def test_duplicates_are_ignored_in_flight_answered_again_when_done_and_3106_when_changed(
    db: Database,
) -> None:
    await seed_dfsp(db, "payerfsp")
    await seed_dfsp(db, "payeefsp")
    await post(db)
    assert await post(db) is quoting.Outcome.IGNORED
    assert len(await rows(db)) == 1
    assert await post(db, hash_="changed") is quoting.Outcome.REJECTED
    assert code((await rows(db))[-1]) == "3106"
    await answer(db)
    assert await post(db) is quoting.Outcome.RESENT
    resent = (await rows(db))[-1]
    assert (resent.recipient, resent.method, resent.path, resent.body) == ("payerfsp", "PUT", f"/quotes/{QID}",
                                                                          b'{"answer":1}')
    async with db.read() as conn:
        count = len((await conn.execute(select(quote))).all())
    assert count == 1


async def test_a_second_different_answer_is_3106_and_an_answer_from_a_stranger_is_refused(db: Database) -> None:
    await seed_dfsp(db, "payerfsp")
    await seed_dfsp(db, "payeefsp")
    await post(db)
    assert await answer(db, source="payerfsp") is quoting.Outcome.REJECTED
    await answer(db)
    assert await answer(db) is quoting.Outcome.RESENT
    assert await answer(db, hash_="other") is quoting.Outcome.REJECTED
    assert code((await rows(db))[-1]) == "3106"


async def test_unknown_or_currency_less_fsps_get_an_error_and_no_quote_is_stored(db: Database) -> None:
    await seed_dfsp(db, "payerfsp")
    await seed_dfsp(db, "payeefsp", currencies=("XTS",))
    await seed_dfsp(db, "sleepyfsp", accounts_active=False)
    await post(db, payee="nobody")
    await post(db)  # payee has no XXX account
    await post(db, payee="sleepyfsp")
    await post(db, req=request(currency="USD"))  # payer has no USD account
    assert [code(r) for r in await rows(db)] == ["3203", "5106", "5106", "4103"]
    async with db.read() as conn:
        assert (await conn.execute(select(quote))).first() is None


async def test_payee_error_is_recorded_and_forwarded_and_resent_on_duplicate(db: Database) -> None:
    await seed_dfsp(db, "payerfsp")
    await seed_dfsp(db, "payeefsp")
    await post(db)
    outcome = await quoting.reject_quote(
        db, quote_id=QID, source="payeefsp", destination="payerfsp", error_code="5101",
        error_description="Payee rejected quote", now=NOW,
        forward_to=lambda fsp: fwd(fsp, "PUT", f"/quotes/{QID}/error", b'{"errorInformation":{}}'),
    )
    assert outcome is quoting.Outcome.FORWARDED
    async with db.read() as conn:
        stored = await quoting.load_quote(conn, QID)
    assert stored is not None
    assert stored.state is QuoteState.ERROR
    assert stored.error_code == "5101"
    assert await post(db) is quoting.Outcome.RESENT
    assert (await rows(db))[-1].path == f"/quotes/{QID}/error"


async def test_get_quote_goes_to_the_payee_and_unknown_quotes_are_3205(db: Database) -> None:
    await seed_dfsp(db, "payerfsp")
    await seed_dfsp(db, "payeefsp")

    async def get() -> quoting.Outcome:
        return await quoting.get_quote(db, quote_id=QID, requester="payerfsp", destination=None,
                                       forward_to=lambda fsp: fwd(fsp, "GET", f"/quotes/{QID}", None),
                                       error_to_requester=err_to("payerfsp"), now=NOW)

    assert await get() is quoting.Outcome.REJECTED
    assert code((await rows(db))[-1]) == "3205"
    await post(db)
    assert await get() is quoting.Outcome.FORWARDED
    last = (await rows(db))[-1]
    assert (last.recipient, last.method) == ("payeefsp", "GET")
