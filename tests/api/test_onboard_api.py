"""POST /onboard on the operator API and ``mojahub onboard`` (local database and --hub)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import orjson
import yaml
from typer.testing import CliRunner

from mojahub.cli import app
from tests.support.dfsp import serve_hub_for_test

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scheme.yaml"


async def test_post_onboard_takes_yaml_applies_once_and_refuses_bad_files(db_url: str) -> None:
    raw = EXAMPLE.read_bytes()
    async with serve_hub_for_test(db_url) as running, aiohttp.ClientSession() as http:
        url = running.admin_url + "/onboard"
        async with http.post(url + "?dryRun=true", data=raw, headers={"Content-Type": "application/yaml"}) as resp:
            dry = orjson.loads(await resp.read())
        assert resp.status == 200
        assert dry["dryRun"] is True
        assert dry["created"] > 0
        async with http.get(running.admin_url + "/participants/payerfsp") as resp:
            assert resp.status == 400  # the dry run kept nothing
        async with http.post(url, data=raw) as resp:
            first = orjson.loads(await resp.read())
        assert (resp.status, first["created"]) == (200, dry["created"])
        async with http.post(url, data=orjson.dumps(yaml.safe_load(raw))) as resp:
            second = orjson.loads(await resp.read())
        assert resp.status == 200
        assert (second["created"], second["changed"], second["changes"]) == (0, 0, [])
        endpoint = "/participants/payerfsp/endpoints?type=FSPIOP_CALLBACK_URL_TRANSFER_POST"
        async with http.get(running.admin_url + endpoint) as resp:
            assert orjson.loads(await resp.read())["value"] == "http://127.0.0.1:3710/transfers"

        bad = raw.replace(b"netDebitCap: 1000", b"netDebitCap: -5", 1)
        async with http.post(url, data=bad) as resp:
            body = orjson.loads(await resp.read())
        assert resp.status == 400
        assert body["errorInformation"]["errorCode"] == "3100"
        assert "netDebitCap" in body["errorInformation"]["errorDescription"]
        async with http.post(url, data=b"{not: [valid") as resp:
            assert resp.status == 400
            assert orjson.loads(await resp.read())["errorInformation"]["errorCode"] == "3101"


def test_cli_onboard_against_a_database_file_twice(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    runner = CliRunner()
    first = runner.invoke(app, ["onboard", str(EXAMPLE), "--database-url", url])
    assert first.exit_code == 0, first.output
    assert "created   participant payerfsp USD" in first.output
    second = runner.invoke(app, ["onboard", str(EXAMPLE), "--database-url", url])
    assert second.exit_code == 0, second.output
    assert second.output.strip().endswith("0 created, 0 changed, 11 unchanged")
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("currencies: [USD]", "currencies: [US]"))
    failed = runner.invoke(app, ["onboard", str(bad), "--database-url", url])
    assert failed.exit_code == 2
    assert "nothing applied" in failed.output


async def test_cli_onboard_against_a_running_hub(sqlite_url: str) -> None:
    async with serve_hub_for_test(sqlite_url) as running:
        runner = CliRunner()
        result = await asyncio.to_thread(runner.invoke, app, ["onboard", str(EXAMPLE), "--hub", running.admin_url])
        assert result.exit_code == 0, result.output
        assert "created   endpoints payeefsp" in result.output
        async with aiohttp.ClientSession() as http, http.get(running.admin_url + "/participants/payeefsp") as resp:
            assert resp.status == 200
