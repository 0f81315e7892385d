"""Bad input on the operator API: a clear errorInformation with central-ledger's code and status,
and nothing changed (balances, accounts and participants read back identical)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from mojahub.ledger.tables import ledger_entry, position
from mojahub.participants.tables import (
    account,
    funds_transfer,
    ledger_account_type,
    participant,
    participant_endpoint,
    participant_limit,
    settlement_model,
)
from tests.api.admin_client import AdminClient, funds_in, new_transfer_id
from tests.support.dfsp import serve_hub_for_test


@pytest.fixture
async def admin(db_url: str) -> AsyncIterator[AdminClient]:
    """A hub with XXX hub accounts, the default model and two funded DFSPs (XXX), over HTTP."""
    async with serve_hub_for_test(db_url, callback_dispatch_enabled=False) as running, \
            aiohttp.ClientSession() as http:
        a = AdminClient(http, running.admin_url)
        a.running = running  # type: ignore[attr-defined]
        await a.provision_hub("XXX")
        await a.provision_hub("XTS")
        await a.default_model()
        await a.onboard("payerfsp", "XXX", deposit="5000")
        await a.onboard("payeefsp", "XXX", deposit=100)
        yield a


async def snapshot(a: AdminClient) -> Any:
    """Every row of the participants and ledger tables, read straight from the database."""
    db = a.running.hub.db  # type: ignore[attr-defined]
    tables = (participant, account, participant_limit, participant_endpoint, funds_transfer, settlement_model,
              ledger_account_type, position, ledger_entry)
    async with db.read() as conn:
        return [sorted(map(tuple, (await conn.execute(select(t))).all()), key=repr) for t in tables]


async def expect_error(a: AdminClient, method: str, path: str, body: Any, status: int, code: str,
                       words: str | None = None, **kw: Any) -> None:
    before = await snapshot(a)
    got = await a.call(method, path, body, **kw)
    assert (got.status, got.error_code) == (status, code), (method, path, body, got.text)
    if words is not None:
        assert words in got.error_description, got.error_description
    assert await snapshot(a) == before, f"{method} {path} changed state"


async def test_unknown_participant_is_400_3200_everywhere(admin: AdminClient) -> None:
    for method, path, body in [
        ("GET", "/participants/nobody", None),
        ("PUT", "/participants/nobody", {"isActive": False}),
        ("GET", "/participants/nobody/accounts", None),
        ("GET", "/participants/nobody/positions", None),
        ("GET", "/participants/nobody/limits", None),
        ("GET", "/participants/nobody/endpoints", None),
        ("POST", "/participants/nobody/endpoints", {"type": "FSPIOP_CALLBACK_URL_QUOTES", "value": "http://x"}),
        ("POST", "/participants/nobody/initialPositionAndLimits",
         {"currency": "XXX", "limit": {"type": "NET_DEBIT_CAP", "value": 1}}),
        ("POST", "/participants/nobody/accounts/4", funds_in(1, "XXX")),
    ]:
        await expect_error(admin, method, path, body, 400, "3200", "nobody")


async def test_participant_creation_errors(admin: AdminClient) -> None:
    await expect_error(admin, "POST", "/participants", {"name": "newfsp", "currency": "ABC"}, 400, "3100", "ABC")
    await expect_error(admin, "POST", "/participants", {"name": "newfsp", "currency": "US"}, 400, "3100")
    await expect_error(admin, "POST", "/participants", {"name": "x", "currency": "XXX"}, 400, "3100", "name")
    await expect_error(admin, "POST", "/participants", {"currency": "XXX"}, 400, "3102", "name")
    await expect_error(admin, "POST", "/participants", {"name": "newfsp", "currency": "EUR"}, 400, "3003",
                       "Hub reconciliation account")
    await expect_error(admin, "POST", "/participants", {"name": "payerfsp", "currency": "XXX"}, 400, "3000",
                       "already been registered")
    await expect_error(admin, "POST", "/participants", None, 400, "3102", raw=b"")
    await expect_error(admin, "POST", "/participants", None, 400, "3101", raw=b"{not json")
    await expect_error(admin, "POST", "/participants", None, 400, "3101", raw=b"[1, 2]")
    await expect_error(admin, "POST", "/participants", {"name": ["a", "b"], "currency": "XXX"}, 400, "3101")


async def test_no_matching_or_default_settlement_model_is_6000(admin: AdminClient) -> None:
    got = await admin.put("/settlementModels/DEFAULTDEFERREDNET", {"isActive": False})
    assert (got.status, got.body["isActive"]) == (200, False)
    await expect_error(admin, "POST", "/participants", {"name": "newfsp", "currency": "XTS"}, 400, "6000",
                       "Settlement Model")
    assert (await admin.get("/participants/newfsp")).error_code == "3200"


async def test_hub_account_errors_are_3003(admin: AdminClient) -> None:
    cases = [
        ("/participants/payerfsp/accounts", {"type": "HUB_RECONCILIATION", "currency": "XXX"},
         "reserved for creation of Hub account types only"),
        ("/participants/Hub/accounts", {"type": "POSITION", "currency": "XXX"}, "not allowed"),
        ("/participants/Hub/accounts", {"type": "NO_SUCH_TYPE", "currency": "XXX"},
         "Ledger account type was not found"),
        ("/participants/Hub/accounts", {"type": "HUB_MULTILATERAL_SETTLEMENT", "currency": "XXX"},
         "Hub account has already been registered"),
        ("/participants/nobody/accounts", {"type": "HUB_RECONCILIATION", "currency": "XXX"},
         "Participant was not found"),
    ]
    for path, body, words in cases:
        await expect_error(admin, "POST", path, body, 400, "3003", words)
    await expect_error(admin, "POST", "/participants/Hub/accounts", {"type": "HUB_RECONCILIATION", "currency": "QQQ"},
                       400, "3100")


async def test_bad_funds_amounts_are_3100_and_change_nothing(admin: AdminClient) -> None:
    acc = await admin.settlement_account("payerfsp", "XXX")
    path = f"/participants/payerfsp/accounts/{acc['id']}"
    for amount in (-5, 0, "0", "abc", "1.00001", 1.00001, True, None, {"x": 1}, "1e400"):
        await expect_error(admin, "POST", path, funds_in(amount, "XXX"), 400, "3100")
    body = funds_in(5, "XXX")
    for field in ("transferId", "externalReference", "action", "reason", "amount"):
        partial = {k: v for k, v in body.items() if k != field}
        await expect_error(admin, "POST", path, partial, 400, "3102", field)
    await expect_error(admin, "POST", path, {**body, "transferId": "not-an-id"}, 400, "3100", "transferId")
    await expect_error(admin, "POST", path, {**body, "action": "recordFundsSideways"}, 400, "3100", "action")
    await expect_error(admin, "POST", path, funds_in(5, "ABC"), 400, "3100", "ABC")
    await expect_error(admin, "POST", path, None, 400, "3101", raw=b'{"transferId": ')
    await expect_error(admin, "POST", "/participants/payerfsp/accounts/0", body, 400, "3100")
    await expect_error(admin, "POST", "/participants/payerfsp/accounts/abc", body, 400, "3100")


async def test_funds_on_the_wrong_account_are_2001_and_change_nothing(admin: AdminClient) -> None:
    payer = (await admin.get("/participants/payerfsp/accounts")).body
    payee_settlement = await admin.settlement_account("payeefsp", "XXX")
    position = next(x for x in payer if x["ledgerAccountType"] == "POSITION")
    settlement = next(x for x in payer if x["ledgerAccountType"] == "SETTLEMENT")
    await expect_error(admin, "POST", f"/participants/payerfsp/accounts/{payee_settlement['id']}",
                       funds_in(5, "XXX"), 500, "2001", "does not match participant")
    await expect_error(admin, "POST", f"/participants/payerfsp/accounts/{settlement['id']}",
                       funds_in(5, "XTS"), 500, "2001", "does not match participant or currency")
    await expect_error(admin, "POST", f"/participants/payerfsp/accounts/{position['id']}",
                       funds_in(5, "XXX"), 500, "2001", "not SETTLEMENT")
    await expect_error(admin, "POST", "/participants/payerfsp/accounts/99999", funds_in(5, "XXX"), 500, "2001")
    got = await admin.put("/participants/payerfsp", {"isActive": False})
    assert (got.status, got.body["isActive"]) == (200, 0)
    await expect_error(admin, "POST", f"/participants/payerfsp/accounts/{settlement['id']}",
                       funds_in(5, "XXX"), 500, "2001", "inactive")


async def test_funds_out_above_the_balance_is_refused_and_changes_nothing(admin: AdminClient) -> None:
    acc = await admin.settlement_account("payeefsp", "XXX")  # holds 100
    path = f"/participants/payeefsp/accounts/{acc['id']}"
    await expect_error(admin, "POST", path, funds_in("100.0001", "XXX", action="recordFundsOutPrepareReserve"),
                       400, "4001", "available")
    got = await admin.post(path, funds_in(60, "XXX", action="recordFundsOutPrepareReserve"))
    assert got.status == 202
    # 60 reserved: only 40 left for another funds out.
    await expect_error(admin, "POST", path, funds_in(41, "XXX", action="recordFundsOutPrepareReserve"),
                       400, "4001")
    assert (await admin.settlement_account("payeefsp", "XXX"))["value"] == -40


async def test_duplicate_transfer_id_same_body_is_a_no_op_and_changed_body_is_3106(admin: AdminClient) -> None:
    acc = await admin.settlement_account("payerfsp", "XXX")
    path = f"/participants/payerfsp/accounts/{acc['id']}"
    body = funds_in("250.5", "XXX")
    assert (await admin.post(path, body)).status == 202
    before = await snapshot(admin)
    resend = await admin.post(path, {**body, "amount": {"amount": 250.50, "currency": "XXX"}})  # same meaning
    assert resend.status == 202
    assert await snapshot(admin) == before
    await expect_error(admin, "POST", path, {**body, "amount": {"amount": 251, "currency": "XXX"}}, 400, "3106",
                       body["transferId"])
    assert (await admin.settlement_account("payerfsp", "XXX"))["value"] == -5250.5


async def test_funds_out_commit_and_abort(admin: AdminClient) -> None:
    acc = await admin.settlement_account("payerfsp", "XXX")
    base = f"/participants/payerfsp/accounts/{acc['id']}"

    async def hub_reconciliation() -> Any:
        hub = (await admin.get("/participants/Hub/accounts?currency=XXX")).body
        return next(x["value"] for x in hub if x["ledgerAccountType"] == "HUB_RECONCILIATION")

    rec_before = await hub_reconciliation()
    committed, aborted = new_transfer_id(), new_transfer_id()
    for tid in (committed, aborted):
        got = await admin.post(base, funds_in(1000, "XXX", transfer_id=tid, action="recordFundsOutPrepareReserve"))
        assert got.status == 202
    assert (await admin.settlement_account("payerfsp", "XXX"))["value"] == -3000
    got = await admin.put(f"{base}/transfers/{committed}", {"action": "recordFundsOutCommit", "reason": "paid"})
    assert (got.status, got.text) == (202, "")
    assert await hub_reconciliation() == rec_before - 1000
    got = await admin.put(f"{base}/transfers/{aborted}", {"action": "recordFundsOutAbort", "reason": "cancelled"})
    assert got.status == 202
    assert (await admin.settlement_account("payerfsp", "XXX"))["value"] == -4000
    # Resolving again is a no-op (only a RESERVED transfer is acted upon).
    before = await snapshot(admin)
    for tid, action in ((committed, "recordFundsOutAbort"), (aborted, "recordFundsOutCommit")):
        got = await admin.put(f"{base}/transfers/{tid}", {"action": action, "reason": "again"})
        assert got.status == 202
    assert await snapshot(admin) == before
    await expect_error(admin, "PUT", f"{base}/transfers/{new_transfer_id()}",
                       {"action": "recordFundsOutCommit", "reason": "x"}, 400, "3208")
    await expect_error(admin, "PUT", f"{base}/transfers/{committed}", {"action": "recordFundsIn", "reason": "x"},
                       400, "3100", "action")
    await expect_error(admin, "PUT", f"{base}/transfers/{committed}", {"action": "recordFundsOutCommit"},
                       400, "3102", "reason")


async def test_endpoint_limit_and_position_account_errors(admin: AdminClient) -> None:
    await expect_error(admin, "POST", "/participants/payerfsp/endpoints", {"type": "NOT_A_TYPE", "value": "x"},
                       400, "3100", "NOT_A_TYPE")
    await expect_error(admin, "POST", "/participants/payerfsp/endpoints", {"type": "FSPIOP_CALLBACK_URL_QUOTES"},
                       400, "3102", "value")
    await expect_error(admin, "POST", "/participants/payerfsp/initialPositionAndLimits",
                       {"currency": "XXX", "limit": {"type": "NET_DEBIT_CAP", "value": -1}}, 400, "3100")
    await expect_error(admin, "POST", "/participants/payerfsp/initialPositionAndLimits",
                       {"currency": "XXX", "limit": {"type": "OTHER", "value": 1}}, 400, "3100")
    await expect_error(admin, "POST", "/participants/payerfsp/initialPositionAndLimits", {"currency": "XXX"},
                       400, "3102", "limit")
    await expect_error(admin, "PUT", "/participants/payerfsp/limits",
                       {"currency": "XXX", "limit": {"type": "NET_DEBIT_CAP", "value": 5}}, 400, "3102",
                       "alarmPercentage")
    await expect_error(admin, "PUT", "/participants/payerfsp/limits",
                       {"currency": "XTS", "limit": {"type": "NET_DEBIT_CAP", "value": 5, "alarmPercentage": 10}},
                       400, "3200")
    got = await admin.post("/participants", {"name": "payerfsp", "currency": "XTS"})
    assert got.status == 201
    await expect_error(admin, "PUT", "/participants/payerfsp/limits",
                       {"currency": "XTS", "limit": {"type": "NET_DEBIT_CAP", "value": 5, "alarmPercentage": 10}},
                       500, "2001", "Participant Limit does not exist")

    payer = (await admin.get("/participants/payerfsp/accounts")).body
    settlement = next(x for x in payer if x["ledgerAccountType"] == "SETTLEMENT")
    position = next(x for x in payer if x["ledgerAccountType"] == "POSITION")
    payee_position = next(x for x in (await admin.get("/participants/payeefsp/accounts")).body
                          if x["ledgerAccountType"] == "POSITION")
    await expect_error(admin, "PUT", f"/participants/payerfsp/accounts/{settlement['id']}", {"isActive": False},
                       500, "2001", "Only position account update is permitted")
    await expect_error(admin, "PUT", f"/participants/payerfsp/accounts/{payee_position['id']}", {"isActive": False},
                       500, "2001", "mismatch")
    await expect_error(admin, "PUT", "/participants/payerfsp/accounts/99999", {"isActive": False},
                       500, "2001", "Account not found")
    got = await admin.put(f"/participants/payerfsp/accounts/{position['id']}", {"isActive": False})
    assert got.status == 200
    assert [p["currency"] for p in (await admin.get("/participants/payerfsp/positions")).body] == []


async def test_settlement_model_and_ledger_account_type_errors(admin: AdminClient) -> None:
    good = {"name": "CGS", "settlementGranularity": "GROSS", "settlementInterchange": "BILATERAL",
            "settlementDelay": "IMMEDIATE", "currency": "XTS", "requireLiquidityCheck": True,
            "ledgerAccountType": "POSITION", "settlementAccountType": "SETTLEMENT", "autoPositionReset": False}
    await expect_error(admin, "POST", "/settlementModels", {**good, "settlementGranularity": "NET"}, 400, "3000",
                       "IMMEDIATE settlement cannot be NET")
    await expect_error(admin, "POST", "/settlementModels", {**good, "ledgerAccountType": "NOPE"}, 400, "3003",
                       "Ledger account type was not found")
    await expect_error(admin, "POST", "/settlementModels", {**good, "settlementAccountType": "POSITION"}, 400,
                       "3003")
    await expect_error(admin, "POST", "/settlementModels", {**good, "settlementDelay": "LATER"}, 400, "3100")
    await expect_error(admin, "POST", "/settlementModels", {**good, "name": "bad name!"}, 400, "3100")
    await expect_error(admin, "POST", "/settlementModels", {k: v for k, v in good.items() if k != "autoPositionReset"},
                       400, "3102")
    await expect_error(admin, "GET", "/settlementModels/NOPE", None, 400, "3200")
    assert (await admin.post("/settlementModels", good)).status == 201
    got = await admin.get("/settlementModels/CGS")
    assert got.body["settlementDelay"] == "IMMEDIATE"
    assert got.body["currency"] == "XTS"

    assert (await admin.post("/ledgerAccountTypes", {"name": "WALLET", "description": "wallets", "isActive": True,
                                                     "isSettleable": True})).status == 201
    await expect_error(admin, "POST", "/ledgerAccountTypes", {"name": "WALLET", "description": "again",
                                                               "isActive": True, "isSettleable": True},
                       400, "3000", "already exists")
    await expect_error(admin, "POST", "/ledgerAccountTypes", {"name": "bad-name", "description": "x",
                                                               "isActive": True, "isSettleable": True}, 400, "3100")
    names = [t["name"] for t in (await admin.get("/ledgerAccountTypes")).body]
    assert names[:2] == ["POSITION", "SETTLEMENT"]
    assert "WALLET" in names
    enums = (await admin.get("/enums")).body
    assert "WALLET" in enums["ledgerAccountType"]
    assert "FSPIOP_CALLBACK_URL_TRANSFER_POST" in enums["endpointType"]


async def test_unknown_paths_and_methods(admin: AdminClient) -> None:
    got = await admin.get("/nowhere")
    assert (got.status, got.error_code) == (404, "3002")
    got = await admin.call("DELETE", "/participants/payerfsp")
    assert (got.status, got.error_code) == (405, "3000")


async def test_deactivated_participant_is_seen_inactive_by_the_fspiop_directory(admin: AdminClient) -> None:
    hub = admin.running.hub  # type: ignore[attr-defined]
    assert (await hub.participants.require_active("payerfsp")).is_active
    assert (await admin.put("/participants/payerfsp", {"isActive": False})).status == 200
    from mojahub.kernel.errors import HubError

    with pytest.raises(HubError) as err:
        await hub.participants.require_active("payerfsp")
    assert err.value.code.code == "3100"
    assert (await admin.get("/participants?isProxy=false")).body[1]["isActive"] == 0
    assert (await admin.get("/participants?isProxy=true")).body == []
    await expect_error(admin, "GET", "/participants?isProxy=maybe", None, 400, "3100")
