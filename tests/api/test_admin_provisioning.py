"""The TTK hub provisioning sequence through the real operator API over loopback HTTP, on SQLite
and PostgreSQL: hub accounts, settlement models, two DFSPs with initial position and NDC, every
callback endpoint, funds in, then accounts, positions and limits read back."""

from __future__ import annotations

import json
from decimal import Decimal

import aiohttp

from mojahub.participants.model import ENDPOINT_TYPES
from tests.api.admin_client import AdminClient, funds_in
from tests.support.dfsp import serve_hub_for_test


async def test_ttk_provisioning_sequence_builds_a_working_scheme(db_url: str) -> None:
    async with serve_hub_for_test(db_url, callback_dispatch_enabled=False) as running, \
            aiohttp.ClientSession() as http:
        a = AdminClient(http, running.admin_url)

        # The hub participant exists from start-up, without accounts.
        got = await a.get("/participants")
        assert got.status == 200
        assert [(p["name"], p["accounts"]) for p in got.body] == [("Hub", [])]

        # H1: hub accounts (re-posting: 400 with errorInformation, code 3003).
        for currency in ("XXX", "XTS"):
            for t in ("HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"):
                got = await a.post("/participants/Hub/accounts", {"type": t, "currency": currency},
                                   headers={"FSPIOP-Source": "hub_operator", "Authorization": "{$inputs.TOKEN}"})
                assert got.status == 201, got.text
                assert got.body["name"] == "Hub"
        again = await a.post("/participants/Hub/accounts", {"type": "HUB_RECONCILIATION", "currency": "XXX"})
        assert (again.status, again.error_code) == (400, "3003")
        assert "already been registered" in again.error_description

        # H2: hub e-mail endpoints (201 also on re-run).
        for t in ("SETTLEMENT_TRANSFER_POSITION_CHANGE_EMAIL", "NET_DEBIT_CAP_ADJUSTMENT_EMAIL",
                  "NET_DEBIT_CAP_THRESHOLD_BREACH_EMAIL"):
            for _ in range(2):
                got = await a.post("/participants/Hub/endpoints", {"type": t, "value": "{$environment.MASTER_EMAIL}"})
                assert got.status == 201, got.text

        # H3: a currency-specific model and the default model.
        model = {"name": "DEFERREDNETXXX", "settlementGranularity": "NET", "settlementInterchange": "MULTILATERAL",
                 "settlementDelay": "DEFERRED", "currency": "XXX", "requireLiquidityCheck": False,
                 "ledgerAccountType": "POSITION", "settlementAccountType": "SETTLEMENT", "autoPositionReset": True}
        assert (await a.post("/settlementModels", model)).status == 201
        dup = await a.post("/settlementModels", model)
        assert (dup.status, dup.error_code) == (400, "3000")
        assert "Settlement Model already exists" in dup.error_description
        assert (await a.post("/settlementModels", {**model, "name": "DEFAULTDEFERREDNET", "currency": None})).status \
            == 201
        models = (await a.get("/settlementModels")).body
        assert [(m["name"], m["currency"], m["ledgerAccountTypeId"], m["isActive"]) for m in models] == [
            ("DEFERREDNETXXX", "XXX", "POSITION", True), ("DEFAULTDEFERREDNET", None, "POSITION", True)]

        # D1/D2: two DFSPs in XXX (one also in XTS), accounts inactive until initialPositionAndLimits.
        for name in ("payerfsp", "payeefsp"):
            got = await a.post("/participants", {"name": name, "currency": "XXX"})
            assert got.status == 201, got.text
            assert got.body["isActive"] == 1
            assert [(x["ledgerAccountType"], x["currency"], x["isActive"]) for x in got.body["accounts"]] == [
                ("POSITION", "XXX", 0), ("SETTLEMENT", "XXX", 0)]
        got = await a.post("/participants", {"name": "payerfsp", "currency": "XTS"})  # adds a currency
        assert got.status == 201
        assert [(x["ledgerAccountType"], x["currency"]) for x in got.body["accounts"]] == [
            ("POSITION", "XXX"), ("SETTLEMENT", "XXX"), ("POSITION", "XTS"), ("SETTLEMENT", "XTS")]
        again = await a.post("/participants", {"name": "payerfsp", "currency": "XXX"})
        assert (again.status, again.error_code) == (400, "3000")
        assert "already been registered" in again.error_description

        for name, currency in (("payerfsp", "XXX"), ("payerfsp", "XTS"), ("payeefsp", "XXX")):
            body = {"currency": currency, "limit": {"type": "NET_DEBIT_CAP", "value": 1000000}, "initialPosition": 0}
            # testfsp3/4 send no Content-Type: the body is JSON regardless.
            got = await a.post(f"/participants/{name}/initialPositionAndLimits", raw=json.dumps(body).encode())
            assert got.status == 201, got.text
            assert got.text == ""
        twice = await a.post("/participants/payeefsp/initialPositionAndLimits",
                             {"currency": "XXX", "limit": {"type": "NET_DEBIT_CAP", "value": 5}})
        assert (twice.status, twice.error_code) == (500, "2001")
        assert "already set" in twice.error_description

        # D6: every callback endpoint type, values stored exactly as given (templates, placeholders).
        for t in ENDPOINT_TYPES:
            value = f"http://127.0.0.1:4040/{t.lower()}/{{{{transferId}}}}"
            got = await a.post("/participants/payerfsp/endpoints", {"type": t, "value": value})
            assert got.status == 201, (t, got.text)
        got = await a.post("/participants/payerfsp/endpoints",
                           {"type": "FSPIOP_CALLBACK_URL_TRANSFER_POST", "value": "http://dfsp/transfers"})
        assert got.status == 201
        listed = (await a.get("/participants/payerfsp/endpoints")).body
        assert len(listed) == len(ENDPOINT_TYPES)
        one = await a.get("/participants/payerfsp/endpoints?type=FSPIOP_CALLBACK_URL_TRANSFER_POST")
        assert one.body == {"type": "FSPIOP_CALLBACK_URL_TRANSFER_POST", "value": "http://dfsp/transfers"}
        put = await a.get("/participants/payerfsp/endpoints?type=FSPIOP_CALLBACK_URL_TRANSFER_PUT")
        assert put.body["value"] == "http://127.0.0.1:4040/fspiop_callback_url_transfer_put/{{transferId}}"
        assert (await a.get("/participants/payeefsp/endpoints?type=FSPIOP_CALLBACK_URL_QUOTES")).body == {}

        # D3-D5: funds in of "5000" (a string) moves the SETTLEMENT account by exactly -5000.
        for name, currency in (("payerfsp", "XXX"), ("payerfsp", "XTS"), ("payeefsp", "XXX")):
            before = await a.settlement_account(name, currency)
            got = await a.post(f"/participants/{name}/accounts/{before['id']}", funds_in("5000", currency))
            assert (got.status, got.text) == (202, "")
            after = await a.settlement_account(name, currency)
            assert after["value"] == before["value"] - 5000

        accounts = await a.get("/participants/payerfsp/accounts")
        assert '"value":-5000' in accounts.text
        by_key = {(x["ledgerAccountType"], x["currency"]): x for x in accounts.body}
        assert by_key[("SETTLEMENT", "XTS")]["value"] == Decimal(-5000)
        assert by_key[("POSITION", "XXX")] | {"changedDate": None} == {
            "id": by_key[("POSITION", "XXX")]["id"], "ledgerAccountType": "POSITION", "currency": "XXX",
            "isActive": 1, "value": 0, "reservedValue": 0, "changedDate": None}

        hub_accounts = (await a.get("/participants/Hub/accounts")).body
        reconciliation = {x["currency"]: x["value"] for x in hub_accounts if x["ledgerAccountType"] ==
                          "HUB_RECONCILIATION"}
        settlement_total = Decimal(0)
        for n in ("payerfsp", "payeefsp"):
            settlement_total += (await a.settlement_account(n, "XXX"))["value"]
        assert reconciliation["XXX"] == -settlement_total

        # Positions: POSITION accounts only, stable order (XXX first), numbers.
        positions = await a.get("/participants/payerfsp/positions")
        assert [(p["currency"], p["value"]) for p in positions.body] == [("XXX", 0), ("XTS", 0)]
        one_pos = await a.get("/participants/payerfsp/positions?currency=XTS")
        assert (one_pos.body["currency"], one_pos.body["value"]) == ("XTS", 0)
        assert (await a.get("/participants/payerfsp/positions?currency=INR")).body == {}

        # Limits: per participant with filters, all participants, update.
        limits = await a.get("/participants/payerfsp/limits")
        assert limits.body == [
            {"currency": "XXX", "limit": {"type": "NET_DEBIT_CAP", "value": 1000000, "alarmPercentage": 10}},
            {"currency": "XTS", "limit": {"type": "NET_DEBIT_CAP", "value": 1000000, "alarmPercentage": 10}}]
        assert len((await a.get("/participants/payerfsp/limits?currency=XTS")).body) == 1
        everyone = await a.get("/participants/limits?currency=XXX&type=NET_DEBIT_CAP")
        assert [(x["name"], x["currency"]) for x in everyone.body] == [("payerfsp", "XXX"), ("payeefsp", "XXX")]
        updated = await a.put("/participants/payeefsp/limits", {
            "currency": "XXX", "limit": {"type": "NET_DEBIT_CAP", "value": 12000.5, "alarmPercentage": 20}})
        assert updated.status == 200
        assert '"value":12000.5' in updated.text
        assert (await a.get("/participants/payeefsp/limits")).body[0]["limit"]["value"] == Decimal("12000.5")

        # The participant entity and the hub's link shape.
        payer = (await a.get("/participants/payerfsp")).body
        assert payer["id"] == payer["links"]["self"] == "http://central-ledger/participants/payerfsp"
        assert payer["isProxy"] == 0
        assert all(x["isActive"] == 1 for x in payer["accounts"])

        # The FSPIOP edge directory sees the new participants.
        record = await running.hub.participants.require_active("payeefsp")
        assert record.name == "payeefsp"
