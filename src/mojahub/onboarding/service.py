"""Apply a scheme: compare what the file asks for with what the hub holds and make only the
differences, inside the caller's transaction (``db.write()``), so an error anywhere leaves
nothing half-applied. Running it twice changes nothing the second time and says so.

Rules that make re-runs safe:
* hub accounts, settlement models, participants and currencies are created when missing;
* a settlement model that exists with a different definition is an error (models cannot be
  edited, except ``isActive``);
* the NDC is set with the initial position the first time, then updated when it differs;
  the initial position is applied once only;
* initial funds are deposited only while the DFSP's SETTLEMENT account has never been funded
  (balance exactly 0), with a deterministic transferId, so a re-run never funds twice;
* endpoints are upserted only where the stored value differs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.kernel.money import units_to_decimal
from mojahub.onboarding.endpoints import expand
from mojahub.onboarding.scheme import ParticipantCurrency, ParticipantSpec, Scheme, SettlementModelSpec
from mojahub.participants import funds, model
from mojahub.participants import service as participants
from mojahub.participants import settlement_models as models
from mojahub.storage.engine import Database

CREATED = "created"
CHANGED = "changed"
UNCHANGED = "unchanged"
FUNDS_NAMESPACE = uuid.UUID("6a0e8f2e-3d0c-4c55-9a51-6d6f6a61686b")


@dataclass(frozen=True, slots=True)
class Change:
    action: str  # CREATED / CHANGED / UNCHANGED
    subject: str  # "participant payerfsp", "endpoints payerfsp", ...
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        out = {"action": self.action, "subject": self.subject}
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass
class Report:
    changes: list[Change] = field(default_factory=list)

    def add(self, action: str, subject: str, detail: str = "") -> None:
        self.changes.append(Change(action, subject, detail))

    @property
    def created(self) -> list[Change]:
        return [c for c in self.changes if c.action == CREATED]

    @property
    def changed(self) -> list[Change]:
        return [c for c in self.changes if c.action == CHANGED]

    @property
    def is_noop(self) -> bool:
        return not self.created and not self.changed

    def to_json(self) -> dict[str, Any]:
        return {
            "created": len(self.created),
            "changed": len(self.changed),
            "unchanged": len(self.changes) - len(self.created) - len(self.changed),
            "changes": [c.to_json() for c in self.changes if c.action != UNCHANGED],
        }

    def lines(self) -> list[str]:
        return [f"{c.action:9} {c.subject}" + (f" ({c.detail})" if c.detail else "") for c in self.changes]


def funds_transfer_id(name: str, currency: str, amount: int) -> str:
    return str(uuid.uuid5(FUNDS_NAMESPACE, f"{name}/{currency}/initial-funds/{amount}"))


def _amount(units: int) -> str:
    return format(units_to_decimal(units), "f")


def _where(subject: str, err: HubError) -> HubError:
    return HubError(err.code, f"{subject}: {err.detail or err.code.description}", http_status=400)


async def apply_scheme(conn: AsyncConnection, scheme: Scheme, *, hub_name: str, now: datetime,
                       funds_validity: timedelta = timedelta(days=5)) -> Report:
    """Make the hub match ``scheme``; raises HubError (HTTP 400, naming the item) on a conflict."""
    report = Report()
    await participants.ensure_hub(conn, hub_name, now)
    for currency in scheme.currencies:
        for account_type in model.REQUIRED_HUB_ACCOUNT_TYPES:
            subject = f"hub account {account_type} {currency}"
            if await participants.hub_account_id(conn, hub_name, currency, account_type) is None:
                try:
                    await participants.create_hub_account(conn, hub_name=hub_name, name=hub_name, currency=currency,
                                                          account_type=account_type, now=now)
                except HubError as err:
                    raise _where(subject, err) from err
                report.add(CREATED, subject)
            else:
                report.add(UNCHANGED, subject)
    for spec in scheme.settlement_models:
        await _settlement_model(conn, spec, report, now=now)
    for p in scheme.participants:
        await _participant(conn, p, report, hub_name=hub_name, now=now, funds_validity=funds_validity)
    return report


async def _settlement_model(conn: AsyncConnection, spec: SettlementModelSpec, report: Report, *,
                            now: datetime) -> None:
    subject = f"settlement model {spec.name}"
    existing = await models.list_settlement_models(conn, spec.name)
    if not existing:
        try:
            await models.create_settlement_model(conn, models.NewSettlementModel(
                name=spec.name, settlement_granularity=spec.settlement_granularity,
                settlement_interchange=spec.settlement_interchange, settlement_delay=spec.settlement_delay,
                currency=spec.currency, require_liquidity_check=spec.require_liquidity_check,
                ledger_account_type=spec.ledger_account_type, settlement_account_type=spec.settlement_account_type,
                auto_position_reset=spec.auto_position_reset,
            ), now=now)
            if not spec.is_active:
                await models.set_settlement_model_active(conn, spec.name, False)
        except HubError as err:
            raise _where(subject, err) from err
        report.add(CREATED, subject)
        return
    have = existing[0]
    wanted = (spec.settlement_granularity, spec.settlement_interchange, spec.settlement_delay, spec.currency,
              spec.require_liquidity_check, spec.ledger_account_type, spec.settlement_account_type,
              spec.auto_position_reset)
    stored = (have.settlement_granularity, have.settlement_interchange, have.settlement_delay, have.currency,
              have.require_liquidity_check, have.ledger_account_type, have.settlement_account_type,
              have.auto_position_reset)
    if wanted != stored:
        raise HubError(ErrorCode.CLIENT_ERROR,
                       f"{subject}: exists with a different definition (settlement models cannot be edited)",
                       http_status=400)
    if have.is_active != spec.is_active:
        await models.set_settlement_model_active(conn, spec.name, spec.is_active)
        report.add(CHANGED, subject, f"isActive {spec.is_active}")
    else:
        report.add(UNCHANGED, subject)


async def _participant(conn: AsyncConnection, p: ParticipantSpec, report: Report, *, hub_name: str, now: datetime,
                       funds_validity: timedelta) -> None:
    subject = f"participant {p.name}"
    found = await participants.find_participant(conn, p.name)
    try:
        for c in p.currencies:
            held = []
            if found is not None:
                held = [a for a in (await participants.get_participant(conn, p.name)).accounts
                        if a.currency == c.currency]
            if not held:
                await participants.create_participant(conn, hub_name=hub_name, name=p.name, currency=c.currency,
                                                      now=now)
                report.add(CREATED, f"{subject} {c.currency}", "accounts from the settlement model")
                found = await participants.find_participant(conn, p.name)
            else:
                report.add(UNCHANGED, f"{subject} {c.currency}")
            await _limits(conn, p.name, c, report, now=now)
            await _funds(conn, p.name, c, report, hub_name=hub_name, now=now, funds_validity=funds_validity)
        await _endpoints(conn, p, report, now=now)
        assert found is not None
        if found.is_active != p.is_active:
            await participants.set_participant_active(conn, p.name, p.is_active)
            report.add(CHANGED, subject, f"isActive {p.is_active}")
    except HubError as err:
        raise _where(subject, err) from err


async def _limits(conn: AsyncConnection, name: str, c: ParticipantCurrency, report: Report, *,
                  now: datetime) -> None:
    subject = f"net debit cap {name} {c.currency}"
    limits = await participants.list_limits(conn, name, currency=c.currency, limit_type=model.NET_DEBIT_CAP)
    if not limits:
        await participants.initial_position_and_limits(
            conn, name, currency=c.currency, limit_type=model.NET_DEBIT_CAP, limit_value=c.net_debit_cap,
            initial_position=c.initial_position, now=now,
        )
        detail = f"{_amount(c.net_debit_cap)}, initial position {_amount(c.initial_position)}"
        report.add(CREATED, subject, detail)
    elif limits[0].value != c.net_debit_cap:
        await participants.update_limit(conn, name, currency=c.currency, limit_type=model.NET_DEBIT_CAP,
                                        value=c.net_debit_cap, alarm_percentage=limits[0].alarm_percentage, now=now)
        report.add(CHANGED, subject, f"{_amount(limits[0].value)} -> {_amount(c.net_debit_cap)}")
    else:
        report.add(UNCHANGED, subject)


async def _funds(conn: AsyncConnection, name: str, c: ParticipantCurrency, report: Report, *, hub_name: str,
                 now: datetime, funds_validity: timedelta) -> None:
    if c.initial_funds == 0:
        return
    subject = f"initial funds {name} {c.currency}"
    balances = await participants.account_balances(conn, name, currency=c.currency)
    settlement = next((b for b in balances if b.ledger_account_type == model.SETTLEMENT), None)
    if settlement is None:
        report.add(UNCHANGED, subject, "no SETTLEMENT account in this currency")
        return
    if settlement.value != 0:
        report.add(UNCHANGED, subject, f"already funded (settlement balance {_amount(settlement.value)})")
        return
    outcome = await funds.record_funds(
        conn,
        model.FundsCommand(
            transfer_id=funds_transfer_id(name, c.currency, c.initial_funds), action=model.RECORD_FUNDS_IN_ACTION,
            amount=c.initial_funds, currency=c.currency, external_reference="mojahub onboard",
            reason="initial funds from the scheme file",
        ),
        hub_name=hub_name, name=name, account_id=settlement.id, now=now, validity=funds_validity,
    )
    if outcome is funds.Outcome.DONE:
        report.add(CREATED, subject, f"funds in {_amount(c.initial_funds)}")
    else:
        report.add(UNCHANGED, subject, f"funds in already recorded ({outcome.value})")


async def _endpoints(conn: AsyncConnection, p: ParticipantSpec, report: Report, *, now: datetime) -> None:
    desired = {**(expand(p.callback_url) if p.callback_url else {}), **p.endpoints}
    if not desired:
        return
    current = {e.endpoint_type: e.value for e in await participants.list_endpoints(conn, p.name)}
    new = [t for t in desired if t not in current]
    changed = [t for t in desired if t in current and current[t] != desired[t]]
    for endpoint_type in (*new, *changed):
        await participants.upsert_endpoint(conn, p.name, endpoint_type, desired[endpoint_type], now=now)
    subject = f"endpoints {p.name}"
    if new:
        report.add(CREATED, subject, f"{len(new)} endpoint(s)")
    if changed:
        report.add(CHANGED, subject, f"{len(changed)} endpoint(s)")
    if not new and not changed:
        report.add(UNCHANGED, subject, f"{len(desired)} endpoint(s)")


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


async def onboard(db: Database, scheme: Scheme, *, hub_name: str, now: datetime,
                  funds_validity: timedelta = timedelta(days=5), dry_run: bool = False) -> Report:
    """Apply ``scheme`` in one write transaction (rolled back on error, or always for a dry run)."""
    report = Report()
    try:
        async with db.write() as conn:
            report = await apply_scheme(conn, scheme, hub_name=hub_name, now=now, funds_validity=funds_validity)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return report
