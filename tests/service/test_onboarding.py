"""Onboarding a scheme file on SQLite and PostgreSQL: idempotent, reports what it did, and
applies nothing at all when any part of the file is wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from mojahub.kernel.errors import HubError
from mojahub.onboarding.endpoints import TEMPLATES
from mojahub.onboarding.scheme import Scheme, parse_scheme
from mojahub.onboarding.service import onboard
from mojahub.participants import service as participants
from mojahub.storage.engine import Database

NOW = datetime(2026, 1, 1, tzinfo=UTC)
HUB = "Hub"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scheme.yaml"


def scheme_dict(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    data.update(overrides)
    return data


async def snapshot(db: Database) -> dict[str, Any]:
    """Everything onboarding touches, as plain values."""
    async with db.read() as conn:
        views = await participants.list_participants(conn)
        out: dict[str, Any] = {}
        for v in views:
            balances = await participants.account_balances(conn, v.name)
            endpoints = await participants.list_endpoints(conn, v.name)
            out[v.name] = {
                "active": v.is_active,
                "accounts": [(b.ledger_account_type, b.currency, b.is_active, b.value) for b in balances],
                "limits": [(lim.currency, lim.value) for lim in await participants.list_limits(conn, v.name)],
                "endpoints": sorted((e.endpoint_type, e.value) for e in endpoints),
            }
        return out


async def run(db: Database, data: dict[str, Any]) -> Any:
    return await onboard(db, Scheme.model_validate(data), hub_name=HUB, now=NOW)


async def test_applying_the_example_twice_changes_nothing_the_second_time(db: Database) -> None:
    first = await run(db, scheme_dict())
    after_first = await snapshot(db)
    second = await run(db, scheme_dict())
    assert not first.is_noop
    assert second.is_noop, second.lines()
    assert await snapshot(db) == after_first
    payer = after_first["payerfsp"]
    assert payer["limits"] == [("USD", 1000 * 10_000)]
    assert ("SETTLEMENT", "USD", True, -5000 * 10_000) in payer["accounts"]
    assert ("POSITION", "USD", True, 0) in payer["accounts"]
    endpoints = dict(payer["endpoints"])
    assert len(endpoints) == len(TEMPLATES) + 1
    assert endpoints["FSPIOP_CALLBACK_URL_TRANSFER_PUT"] == "http://127.0.0.1:3710/transfers/{{transferId}}"
    assert endpoints["FSPIOP_CALLBACK_URL_QUOTES"] == "http://127.0.0.1:3710"
    assert endpoints["FSPIOP_CALLBACK_URL_PARTIES_GET"] == (
        "http://127.0.0.1:3710/parties/{{partyIdType}}/{{partyIdentifier}}")
    hub_accounts = {a[0] for a in after_first[HUB]["accounts"]}
    assert hub_accounts == {"HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"}
    # Funds in moved the hub reconciliation account by the sum of both deposits.
    assert ("HUB_RECONCILIATION", "USD", True, 10_000 * 10_000) in after_first[HUB]["accounts"]


async def test_a_changed_file_changes_only_what_differs(db: Database) -> None:
    await run(db, scheme_dict())
    data = scheme_dict()
    data["participants"][0]["currencies"][0]["netDebitCap"] = 2500.5
    data["participants"][0]["currencies"][0]["initialFunds"] = 9999  # already funded: not applied again
    data["participants"][1]["callbackUrl"] = "http://127.0.0.1:3799"
    report = await run(db, data)
    changed = {c.subject: c.detail for c in report.changed}
    assert changed == {"net debit cap payerfsp USD": "1000 -> 2500.5",
                       "endpoints payeefsp": f"{len(TEMPLATES)} endpoint(s)"}
    assert not report.created
    state = await snapshot(db)
    assert state["payerfsp"]["limits"] == [("USD", 25_005_000)]
    assert ("SETTLEMENT", "USD", True, -5000 * 10_000) in state["payerfsp"]["accounts"]
    assert dict(state["payeefsp"]["endpoints"])["FSPIOP_CALLBACK_URL_TRANSFER_POST"] == (
        "http://127.0.0.1:3799/transfers")


async def test_a_conflict_late_in_the_file_applies_nothing(db: Database) -> None:
    before = await snapshot(db)
    data = scheme_dict()
    data["participants"].append({"name": HUB, "currencies": [{"currency": "USD", "netDebitCap": 1}]})
    with pytest.raises(HubError) as caught:
        await run(db, data)
    assert caught.value.http_status == 400
    assert "participant Hub" in caught.value.description
    assert await snapshot(db) == before


async def test_a_currency_without_a_settlement_model_is_6000_and_nothing_applied(db: Database) -> None:
    before = await snapshot(db)
    with pytest.raises(HubError) as caught:
        await run(db, scheme_dict(settlementModels=[]))
    assert caught.value.code.code == "6000"
    assert "participant payerfsp" in caught.value.description
    assert await snapshot(db) == before


async def test_an_edited_settlement_model_is_refused(db: Database) -> None:
    await run(db, scheme_dict())
    data = scheme_dict()
    data["settlementModels"][0]["autoPositionReset"] = False
    with pytest.raises(HubError) as caught:
        await run(db, data)
    assert "settlement model DEFERREDNET" in caught.value.description


async def test_dry_run_reports_but_keeps_nothing(db: Database) -> None:
    before = await snapshot(db)
    report = await onboard(db, Scheme.model_validate(scheme_dict()), hub_name=HUB, now=NOW, dry_run=True)
    assert len(report.created) > 5
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.update(currencies=["USX"]), "currencies.0"),
        (lambda d: d["participants"][0]["currencies"][0].update(netDebitCap=-1), "netDebitCap"),
        (lambda d: d["participants"][0]["currencies"][0].update(initialFunds="1.23456"), "4 decimal"),
        (lambda d: d["participants"][0]["currencies"][0].update(currency="EUR"), "not in 'currencies'"),
        (lambda d: d["participants"][0].update(endpoints={"NOT_A_TYPE": "x"}), "NOT_A_TYPE"),
        (lambda d: d["participants"][0].update(callbackUrl="ftp://x"), "callbackUrl"),
        (lambda d: d["participants"][1].update(name="payerfsp"), "listed twice"),
        (lambda d: d["settlementModels"][0].update(settlementDelay="IMMEDIATE"), "combination"),
        (lambda d: d["participants"][0].update(colour="blue"), "colour"),
        (lambda d: d.pop("currencies"), "currencies"),
    ],
)
def test_bad_scheme_files_get_an_error_naming_the_problem(mutate: Any, expected: str) -> None:
    data = scheme_dict()
    mutate(data)
    with pytest.raises(HubError) as caught:
        parse_scheme(yaml.safe_dump(data))
    assert caught.value.code.code == "3100"
    assert expected in caught.value.description


@pytest.mark.parametrize("text", ["currencies: [USD", "- just\n- a list\n", ""])
def test_unparseable_scheme_text_is_3101(text: str) -> None:
    with pytest.raises(HubError) as caught:
        parse_scheme(text)
    assert caught.value.code.code == "3101"


def test_json_and_yaml_parse_to_the_same_scheme() -> None:
    import json

    data = scheme_dict()
    assert parse_scheme(json.dumps(data)) == parse_scheme(yaml.safe_dump(data))
