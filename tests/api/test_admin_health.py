"""``GET /health`` (Mojaloop shape, real datastore check) and ``GET /metrics`` (Prometheus)."""

from __future__ import annotations

import aiohttp

from mojahub.bootstrap import build_hub
from mojahub.settings import Settings
from tests.api.admin_client import AdminClient
from tests.support.dfsp import serve_hub_for_test


async def test_health_reports_ok_with_a_reachable_datastore(db_url: str) -> None:
    async with serve_hub_for_test(db_url, callback_dispatch_enabled=False) as running, \
            aiohttp.ClientSession() as http:
        got = await AdminClient(http, running.admin_url).get("/health")
        fspiop = await AdminClient(http, running.fspiop_url).get("/health")
    assert got.status == 200
    assert got.body["status"] == "OK"
    assert got.body["services"] == [{"name": "datastore", "status": "OK"}]
    assert set(got.body) == {"status", "uptime", "startTime", "versionNumber", "services"}
    assert fspiop.status == 200


async def test_health_is_502_down_when_the_database_cannot_be_reached() -> None:
    from mojahub.api.health import health_response

    hub = build_hub(Settings(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    try:
        resp = await health_response(hub)
    finally:
        await hub.close()
    assert resp.status_code == 502
    assert b'"status":"DOWN"' in resp.body
    assert b'{"name":"datastore","status":"DOWN"}' in resp.body


async def test_metrics_expose_the_admin_and_directory_counters(sqlite_url: str) -> None:
    async with serve_hub_for_test(sqlite_url, callback_dispatch_enabled=False) as running, \
            aiohttp.ClientSession() as http:
        a = AdminClient(http, running.admin_url)
        await a.provision_hub("XXX")
        await a.get("/health")
        await running.hub.participants.lookup("Hub")
        got = await a.get("/metrics")
    assert got.status == 200
    assert 'moja_cl_admin_participant_operations_total{operation="create_hub_account"}' in got.text
    assert "moja_participant_directory_lookups_total" in got.text
    assert "moja_health_datastore_up 1.0" in got.text
