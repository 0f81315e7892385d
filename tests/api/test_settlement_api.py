"""Settlement API v2 through the real operator app over loopback HTTP, on SQLite and PostgreSQL:
the settlement collection's walk (window ids sent as strings, as the TTK does), exact JSON
numbers, errorInformation bodies for bad input, reports as JSON and CSV."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp

from tests.api.admin_client import AdminClient
from tests.support.builders import dfsp, hub_accounts
from tests.support.dfsp import serve_hub_for_test
from tests.support.settlement_builders import commit, deferred_net_model

TRANSFERS = [
    ("testfsp1", "testfsp2", 60), ("testfsp1", "payeefsp", 55.25), ("payerfsp", "testfsp1", 35),
    ("testfsp2", "payerfsp", 20), ("payeefsp", "testfsp2", 35), ("payeefsp", "payerfsp", 25),
]


async def _seed(hub: Any) -> dict[str, Any]:
    async with hub.db.write() as conn:
        await deferred_net_model(conn, "DEFERREDNETXXX", "XXX")
        await hub_accounts(conn)
        d = {n: await dfsp(conn, n) for n in ("testfsp1", "testfsp2", "payerfsp", "payeefsp")}
        for payer, payee, amount in TRANSFERS:
            await commit(conn, d[payer], d[payee], amount)
    return d


async def test_settlement_walk_over_http_matches_the_collection(db_url: str) -> None:
    async with serve_hub_for_test(db_url, callback_dispatch_enabled=False) as running, \
            aiohttp.ClientSession() as http:
        a = AdminClient(http, running.admin_url + "/v2")
        d = await _seed(running.hub)

        got = await a.get("/settlementWindows?state=OPEN")
        assert got.status == 200, got.text
        assert [w["state"] for w in got.body] == ["OPEN"]
        window_id = got.body[0]["settlementWindowId"]
        assert isinstance(window_id, int)

        closed = await a.post(f"/settlementWindows/{window_id}", {"state": "CLOSED", "reason": "string"})
        assert closed.status == 200, closed.text
        assert closed.body["state"] == "OPEN"
        assert closed.body["settlementWindowId"] != window_id

        created = await a.post("/settlements", {"settlementModel": "DEFERREDNETXXX", "reason": "TESTING",
                                                "settlementWindows": [{"id": str(window_id)}]})
        assert created.status == 200, created.text
        s = created.body
        assert (s["state"], s["settlementModel"]) == ("PENDING_SETTLEMENT", "DEFERREDNETXXX")
        assert [(w["id"], w["state"]) for w in s["settlementWindows"]] == [(window_id, "PENDING_SETTLEMENT")]
        assert [(c["ledgerAccountType"], c["currencyId"]) for c in s["settlementWindows"][0]["content"]] == [
            ("POSITION", "XXX")]
        nets = {acc["id"]: acc["netSettlementAmount"]["amount"] for p in s["participants"] for acc in p["accounts"]}
        assert nets == {d["testfsp1"].position_account_id: Decimal("80.25"),
                        d["payeefsp"].position_account_id: Decimal("4.75"), d["testfsp2"].position_account_id: -75,
                        d["payerfsp"].position_account_id: -10}
        assert '"amount":80.25' in created.text  # an exact JSON number, not a string

        for state in ("PS_TRANSFERS_RECORDED", "PS_TRANSFERS_RESERVED", "PS_TRANSFERS_COMMITTED", "SETTLED"):
            body = {"participants": [
                {"id": p["id"], "accounts": [{"id": acc["id"], "state": state, "reason": "r"}
                                             for acc in p["accounts"]]} for p in s["participants"]]}
            put = await a.put(f"/settlements/{s['id']}", body)
            assert put.status == 200, put.text
            assert put.body["state"] == state
            assert all(acc["state"] == state and "errorInformation" not in acc
                       for p in put.body["participants"] for acc in p["accounts"])
            expected_window = "SETTLED" if state == "SETTLED" else "PENDING_SETTLEMENT"
            assert put.body["settlementWindows"][0]["state"] == expected_window
            again = await a.get(f"/settlements/{s['id']}")
            assert (again.body["state"], again.body["settlementWindows"][0]["state"]) == (state, expected_window)

        one = await a.get(f"/settlements/{s['id']}/participants/{d['payerfsp'].participant_id}")
        assert one.status == 200, one.text
        assert [p["id"] for p in one.body["participants"]] == [d["payerfsp"].participant_id]
        listed = await a.get(f"/settlements?state=SETTLED&participantId={d['payerfsp'].participant_id}")
        assert [x["id"] for x in listed.body] == [s["id"]]

        report = await a.get(f"/reports/settlements/{s['id']}")
        assert report.status == 200, report.text
        line = next(x for x in report.body["accounts"] if x["participant"] == "testfsp1")
        assert (line["sentAmount"], line["sentCount"], line["receivedAmount"], line["receivedCount"],
                line["netSettlementAmount"]) == (Decimal("115.25"), 2, 35, 1, Decimal("80.25"))
        per_dfsp = await a.get(f"/reports/settlements/{s['id']}/participants/payeefsp")
        assert [(c["counterparty"], c["sentAmount"], c["receivedAmount"]) for c in per_dfsp.body["counterparties"]] \
            == [("payerfsp", 25, 0), ("testfsp1", 0, Decimal("55.25")), ("testfsp2", 35, 0)]
        async with http.get(f"{running.admin_url}/v2/reports/settlements/{s['id']}?format=csv") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/csv")
            rows = (await resp.text()).splitlines()
        assert rows[0].startswith("settlementId,participantId,participant,accountId")
        assert any(",testfsp2," in r and r.endswith(",-75") for r in rows[1:])


async def test_bad_settlement_requests_get_errorinformation_and_change_nothing(db_url: str) -> None:
    async with serve_hub_for_test(db_url, callback_dispatch_enabled=False) as running, \
            aiohttp.ClientSession() as http:
        a = AdminClient(http, running.admin_url + "/v2")
        async with running.hub.db.write() as conn:
            await deferred_net_model(conn, "DEFERREDNETXXX", "XXX")
        open_id = (await a.get("/settlementWindows?state=OPEN")).body[0]["settlementWindowId"]

        empty = await a.post(f"/settlementWindows/{open_id}", {"state": "CLOSED", "reason": "r"})
        assert (empty.status, empty.error_code, empty.error_description) == (
            400, "3100", f"Generic validation error - Window {open_id} is empty")
        cases: list[tuple[str, str, Any, int, str]] = [
            ("GET", "/settlementWindows", None, 400, "3100"),
            ("GET", "/settlementWindows?state=NOPE", None, 400, "3100"),
            ("GET", "/settlementWindows?state=CLOSED", None, 400, "3100"),
            ("GET", "/settlementWindows/999", None, 400, "3100"),
            ("GET", "/settlementWindows/abc", None, 400, "3100"),
            ("POST", f"/settlementWindows/{open_id}", {"state": "OPEN", "reason": "r"}, 400, "3100"),
            ("POST", f"/settlementWindows/{open_id}", {"state": "CLOSED"}, 400, "3102"),
            ("POST", "/settlementWindows/999", {"state": "CLOSED", "reason": "r"}, 400, "3100"),
            ("POST", "/settlements", {"settlementModel": "NOPE", "reason": "r",
                                      "settlementWindows": [{"id": open_id}]}, 400, "3100"),
            ("POST", "/settlements", {"settlementModel": "DEFERREDNETXXX", "reason": "r",
                                      "settlementWindows": [{"id": open_id}]}, 400, "3100"),
            ("POST", "/settlements", {"settlementModel": "DEFERREDNETXXX", "reason": "r"}, 400, "3102"),
            ("POST", "/settlements", {"settlementModel": "DEFERREDNETXXX", "reason": "r",
                                      "settlementWindows": [{"id": "x"}]}, 400, "3100"),
            ("GET", "/settlements", None, 400, "3100"),
            ("GET", "/settlements?state=SETTLED", None, 400, "3100"),
            ("GET", "/settlements/42", None, 400, "3100"),
            ("PUT", "/settlements/42", {"state": "ABORTED"}, 400, "3102"),
            ("PUT", "/settlements/42", {"participants": [], "state": "ABORTED", "reason": "r"}, 400, "3100"),
            ("PUT", "/settlements/42", {"state": "ABORTED", "reason": "r"}, 400, "3100"),
            ("PUT", "/settlements/42", {"participants": []}, 400, "3100"),
        ]
        for method, path, body, status, code in cases:
            got = await a.call(method, path, body)
            assert (got.status, got.error_code) == (status, code), (method, path, got.text)
        malformed = await a.post("/settlements", raw=b"{not json", headers={"Content-Type": "application/json"})
        assert (malformed.status, malformed.error_code) == (400, "3101")
        still = await a.get("/settlementWindows?state=OPEN")
        assert [w["settlementWindowId"] for w in still.body] == [open_id]


async def test_settlement_api_ids_may_be_numbers_or_numeric_strings(db_url: str) -> None:
    async with serve_hub_for_test(db_url, callback_dispatch_enabled=False) as running, \
            aiohttp.ClientSession() as http:
        a = AdminClient(http, running.admin_url + "/v2")
        await _seed(running.hub)
        w = (await a.get("/settlementWindows?state=OPEN")).body[0]["settlementWindowId"]
        assert (await a.post(f"/settlementWindows/{w}", {"state": "CLOSED", "reason": "r"})).status == 200
        got = await a.get(f"/settlementWindows/{w}")
        assert (got.body["state"], got.body["content"][0]["currencyId"], got.body["content"][0]["settlementId"]) == (
            "CLOSED", "XXX", None)
        created = await a.post("/settlements", {"settlementModel": "DEFERREDNETXXX", "reason": "r",
                                                "settlementWindows": [{"id": w}]})
        assert created.status == 200, created.text
        assert (await a.get(f"/settlementWindows/{w}")).body["content"][0]["settlementId"] == created.body["id"]
        aborted = await a.put(f"/settlements/{created.body['id']}", {"state": "ABORTED", "reason": "test"})
        assert (aborted.status, aborted.body["state"]) == (200, "ABORTED")
        assert (await a.get(f"/settlementWindows/{w}")).body["state"] == "ABORTED"
