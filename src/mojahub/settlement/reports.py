"""Settlement reports: per account (net, sent/received amounts and counts) and per DFSP (the same
per counterparty), from the windows' aggregate, as rows ready for JSON or CSV."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.kernel.money import format_amount
from mojahub.participants import settlement_support as participants
from mojahub.settlement.model import Flow
from mojahub.settlement.settlements import SettlementView, get_settlement
from mojahub.settlement.tables import settlement
from mojahub.settlement.windows import window_flows


@dataclass(frozen=True, slots=True)
class Totals:
    sent_amount: int = 0
    sent_count: int = 0
    received_amount: int = 0
    received_count: int = 0

    @property
    def net(self) -> int:
        """Positive: net sender (owes), as netSettlementAmount."""
        return self.sent_amount - self.received_amount

    def add(self, *, sent: int = 0, sent_n: int = 0, received: int = 0, received_n: int = 0) -> Totals:
        return Totals(self.sent_amount + sent, self.sent_count + sent_n,
                      self.received_amount + received, self.received_count + received_n)


@dataclass(frozen=True, slots=True)
class AccountLine:
    participant_id: int
    participant: str
    account_id: int
    currency: str
    state: str
    totals: Totals
    net_settlement_amount: int


@dataclass(frozen=True, slots=True)
class CounterpartyLine:
    currency: str
    counterparty_id: int
    counterparty: str
    totals: Totals


@dataclass(frozen=True, slots=True)
class SettlementReport:
    settlement: SettlementView
    lines: list[AccountLine]


@dataclass(frozen=True, slots=True)
class ParticipantReport:
    settlement: SettlementView
    participant_id: int
    participant: str
    lines: list[CounterpartyLine]
    accounts: list[AccountLine]


async def _scoped_flows(
    conn: AsyncConnection, view: SettlementView
) -> tuple[list[Flow], dict[int, participants.AccountRecord]]:
    lat = (await conn.execute(select(settlement.c.ledger_account_type).where(settlement.c.id == view.id))).scalar_one()
    currencies = {a.currency for a in view.accounts}
    flows = [f for _, f in await window_flows(conn, [w.id for w in view.windows]) if f.currency in currencies]
    accounts = await participants.accounts_by_ids(
        conn, {a for f in flows for a in (f.payer_account_id, f.payee_account_id)}
    )
    return [f for f in flows if accounts[f.payer_account_id].ledger_account_type == lat], accounts


async def settlement_report(conn: AsyncConnection, settlement_id: int) -> SettlementReport:
    view = await get_settlement(conn, settlement_id)
    flows, _ = await _scoped_flows(conn, view)
    totals: dict[int, Totals] = defaultdict(Totals)
    for f in flows:
        totals[f.payer_account_id] = totals[f.payer_account_id].add(sent=f.amount, sent_n=f.count)
        totals[f.payee_account_id] = totals[f.payee_account_id].add(received=f.amount, received_n=f.count)
    names = await participants.accounts_by_ids(conn, {a.id for a in view.accounts})
    lines = [
        AccountLine(a.participant_id, names[a.id].participant_name, a.id, a.currency, a.state,
                    totals.get(a.id, Totals()), a.net_amount)
        for a in view.accounts
    ]
    return SettlementReport(view, lines)


async def participant_report(conn: AsyncConnection, settlement_id: int, participant_name: str) -> ParticipantReport:
    view = await get_settlement(conn, settlement_id)
    flows, accounts = await _scoped_flows(conn, view)
    own = await participants.accounts_by_ids(conn, {a.id for a in view.accounts})
    mine = [a for a in view.accounts if own[a.id].participant_name == participant_name]
    if not mine:
        raise HubError(ErrorCode.VALIDATION_ERROR, "Participant not in settlement")
    pid = mine[0].participant_id
    per: dict[tuple[str, int], Totals] = defaultdict(Totals)
    cp_name: dict[int, str] = {}
    for f in flows:
        payer, payee = accounts[f.payer_account_id], accounts[f.payee_account_id]
        if payer.participant_id == pid:
            per[(f.currency, payee.participant_id)] = per[(f.currency, payee.participant_id)].add(
                sent=f.amount, sent_n=f.count)
            cp_name[payee.participant_id] = payee.participant_name
        if payee.participant_id == pid:
            per[(f.currency, payer.participant_id)] = per[(f.currency, payer.participant_id)].add(
                received=f.amount, received_n=f.count)
            cp_name[payer.participant_id] = payer.participant_name
    lines = sorted((CounterpartyLine(c, p, cp_name[p], t) for (c, p), t in per.items()),
                   key=lambda x: (x.currency, x.counterparty))
    report = await settlement_report(conn, settlement_id)
    return ParticipantReport(view, pid, participant_name, lines, [a for a in report.lines if a.participant_id == pid])


def settlement_report_csv(report: SettlementReport) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["settlementId", "participantId", "participant", "accountId", "currency", "state",
                "sentAmount", "sentCount", "receivedAmount", "receivedCount", "netSettlementAmount"])
    for a in report.lines:
        w.writerow([report.settlement.id, a.participant_id, a.participant, a.account_id, a.currency, a.state,
                    format_amount(a.totals.sent_amount), a.totals.sent_count,
                    format_amount(a.totals.received_amount), a.totals.received_count,
                    _signed(a.net_settlement_amount)])
    return out.getvalue()


def participant_report_csv(report: ParticipantReport) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["settlementId", "participant", "currency", "counterpartyId", "counterparty",
                "sentAmount", "sentCount", "receivedAmount", "receivedCount", "net"])
    for c in report.lines:
        w.writerow([report.settlement.id, report.participant, c.currency, c.counterparty_id, c.counterparty,
                    format_amount(c.totals.sent_amount), c.totals.sent_count,
                    format_amount(c.totals.received_amount), c.totals.received_count, _signed(c.totals.net)])
    return out.getvalue()


def _signed(units: int) -> str:
    return ("-" if units < 0 else "") + format_amount(abs(units))
