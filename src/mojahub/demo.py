"""``mojahub demo``: see money move in one process, in well under a minute.

Starts the hub (a fresh temporary SQLite file unless ``MOJAHUB_DATABASE_URL`` is set), two
simulated DFSPs on loopback ports, onboards them from a scheme, sends payments (lookup → quote →
transfer) including one refused for the net debit cap (4200) and one with a wrong fulfilment,
then closes the settlement window and settles it through the Settlement API, printing every
FSPIOP message and every position change on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from mojahub.bootstrap import Hub, build_hub
from mojahub.onboarding.scheme import Scheme
from mojahub.onboarding.service import onboard
from mojahub.server import bind_socket, migrate, serve_hub
from mojahub.settings import Settings
from mojahub.sim.config import Behaviour, Mode, Party, SimConfig
from mojahub.sim.events import SimEvent
from mojahub.sim.simulator import Simulator

CURRENCY = "USD"
MODEL = "DEFERREDNET"
NDC = 1000
FUNDS = 5000
ALICE = ("MSISDN", "27711111111")  # at payerfsp
BOB = ("MSISDN", "27722222222")  # at payeefsp
SHOP = ("MSISDN", "27733333333")  # at payeefsp, answers with a wrong fulfilment
SETTLEMENT_STEPS = ("PS_TRANSFERS_RECORDED", "PS_TRANSFERS_RESERVED", "PS_TRANSFERS_COMMITTED", "SETTLED")
STEP_TIMEOUT_S = 20.0  # no single step of the demo may take longer


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    label: str
    state: str  # COMPLETED / ERROR_OCCURRED
    error_code: str | None


@dataclass
class DemoResult:
    payments: list[PaymentOutcome] = field(default_factory=list)
    positions: dict[str, Decimal] = field(default_factory=dict)  # after settlement
    nets: dict[str, Decimal] = field(default_factory=dict)  # settlement net per DFSP
    settlement_state: str | None = None
    messages: int = 0
    elapsed_s: float = 0.0


class Timeline:
    """Prints FSPIOP messages and position changes as they happen, relative to the start."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.started = time.monotonic()
        self.messages = 0

    def _stamp(self) -> str:
        return f"{time.monotonic() - self.started:7.3f}s"

    def event(self, e: SimEvent) -> None:
        self.messages += 1
        arrow = "->" if e.direction == "sent" else "<-"
        refused = f" [{e.status}]" if e.status is not None and e.status >= 300 else ""
        self.out(f"{self._stamp()}  {e.fsp:>8} {arrow} hub  {e.method:5} {_short(e.path):42}{refused} {e.summary}")

    def note(self, text: str) -> None:
        self.out(f"{self._stamp()}  {text}")

    def heading(self, text: str) -> None:
        self.out("")
        self.out(f"== {text}")


def _short(path: str) -> str:
    parts = path.split("/")
    return "/".join(p[:8] + "…" if len(p) > 20 else p for p in parts)


def scheme(payer_url: str, payee_url: str) -> Scheme:
    return Scheme.model_validate({
        "currencies": [CURRENCY],
        "settlementModels": [{
            "name": MODEL, "settlementGranularity": "NET", "settlementInterchange": "MULTILATERAL",
            "settlementDelay": "DEFERRED", "currency": CURRENCY, "requireLiquidityCheck": True,
            "ledgerAccountType": "POSITION", "settlementAccountType": "SETTLEMENT", "autoPositionReset": True,
        }],
        "participants": [
            {"name": "payerfsp", "callbackUrl": payer_url,
             "currencies": [{"currency": CURRENCY, "netDebitCap": NDC, "initialFunds": FUNDS}]},
            {"name": "payeefsp", "callbackUrl": payee_url,
             "currencies": [{"currency": CURRENCY, "netDebitCap": NDC, "initialFunds": FUNDS}]},
        ],
    })


@contextlib.asynccontextmanager
async def running_hub(settings: Settings) -> AsyncIterator[tuple[Hub, str, str]]:
    """Migrate, build and serve the hub on loopback port-0 sockets in this event loop."""
    await migrate(settings)
    hub = build_hub(settings)
    fspiop_sock = bind_socket("127.0.0.1", 0)
    admin_sock = bind_socket("127.0.0.1", 0)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_hub(hub, fspiop_sock, admin_sock, stop))
    try:
        await asyncio.sleep(0)  # let the servers start listening (sockets are already bound)
        yield (hub, f"http://127.0.0.1:{fspiop_sock.getsockname()[1]}",
               f"http://127.0.0.1:{admin_sock.getsockname()[1]}")
    finally:
        stop.set()
        await asyncio.wait_for(task, STEP_TIMEOUT_S)
        fspiop_sock.close()
        admin_sock.close()


class Admin:
    """The few operator API calls the demo makes (JSON numbers read as exact decimals)."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        data = orjson.dumps(body) if body is not None else None
        async with self.http.request(method, self.base + path, data=data,
                                     headers={"Content-Type": "application/json"}) as resp:
            text = await resp.text()
            value = _loads(text) if text else None
            if resp.status >= 300:
                raise RuntimeError(f"{method} {path} answered {resp.status}: {text[:300]}")
            return value

    async def position(self, name: str) -> Decimal:
        value = await self.call("GET", f"/participants/{name}/positions?currency={CURRENCY}")
        return Decimal(value["value"]) if value else Decimal(0)

    async def settlement_balance(self, name: str) -> Decimal:
        accounts = await self.call("GET", f"/participants/{name}/accounts")
        return next(Decimal(a["value"]) for a in accounts
                    if a["ledgerAccountType"] == "SETTLEMENT" and a["currency"] == CURRENCY)


def _loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


async def run_demo(settings: Settings, *, out: Callable[[str], None] = print) -> DemoResult:
    """The whole demo; returns what happened (the e2e test checks it)."""
    result = DemoResult()
    timeline = Timeline(out)
    names = ("payerfsp", "payeefsp")
    async with running_hub(settings) as (hub, fspiop_url, admin_url), aiohttp.ClientSession() as http:
        admin = Admin(http, admin_url)
        timeline.heading(f"hub up in {time.monotonic() - timeline.started:.1f} s: FSPIOP {fspiop_url}, "
                         f"operator API {admin_url}, database {settings.database_url.split('://')[0]}")
        timeline.started = time.monotonic()  # the timeline counts from here
        payer = Simulator(SimConfig(
            fsp_id="payerfsp", hub_url=fspiop_url, currency=CURRENCY, callback_timeout_s=STEP_TIMEOUT_S,
            parties=[Party(id_type=ALICE[0], id_value=ALICE[1], first_name="Alice", last_name="Payer")],
        ), on_event=timeline.event)
        payee = Simulator(SimConfig(
            fsp_id="payeefsp", hub_url=fspiop_url, currency=CURRENCY, callback_timeout_s=STEP_TIMEOUT_S,
            parties=[
                Party(id_type=BOB[0], id_value=BOB[1], first_name="Bob", last_name="Payee"),
                Party(id_type=SHOP[0], id_value=SHOP[1], display_name="Shady Shop",
                      behaviour=Behaviour(mode=Mode.WRONG_FULFILMENT)),
            ],
        ), on_event=timeline.event)
        await payer.start()
        await payee.start()
        try:
            timeline.heading("onboarding (one transaction; running it again changes nothing)")
            report = await onboard(hub.db, scheme(payer.fspiop_url, payee.fspiop_url),
                                   hub_name=hub.settings.hub_name, now=hub.clock.now())
            hub.participants.invalidate()
            for line in report.lines():
                if not line.startswith("unchanged"):
                    timeline.note(line)
            timeline.note(f"{len(report.created)} created, {len(report.changed)} changed")

            timeline.heading("parties registered with the hub's account lookup service")
            for sim in (payer, payee):
                for key, ok, body in await sim.register_parties():
                    if not ok:
                        raise RuntimeError(f"registering {key} failed: {body}")

            positions = {n: await admin.position(n) for n in names}

            async def pay(label: str, sim: Simulator, sender: tuple[str, str], to: tuple[str, str],
                          amount: str) -> None:
                timeline.heading(label)
                t = await asyncio.wait_for(sim.pay(from_=sender, to=to, amount=amount), STEP_TIMEOUT_S * 3)
                code = str(t.error.get("errorCode")) if t.error else None
                outcome = t.current_state + (f" ({code} {t.error.get('errorDescription', '')})" if t.error else "")
                timeline.note(f"result: {outcome}")
                result.payments.append(PaymentOutcome(label, t.current_state, code))
                moved = False
                for n in names:
                    now = await admin.position(n)
                    if now != positions[n]:
                        timeline.note(f"position {n}: {positions[n]} -> {now} {CURRENCY}")
                        positions[n], moved = now, True
                if not moved:
                    timeline.note("positions unchanged")

            await pay("Alice (payerfsp) pays Bob (payeefsp) 100 USD", payer, ALICE, BOB, "100")
            await pay("Alice pays Bob 250.50 USD", payer, ALICE, BOB, "250.5")
            await pay(f"Alice pays Bob 900 USD: over payerfsp's net debit cap of {NDC}", payer, ALICE, BOB, "900")
            await pay("Alice pays the Shady Shop 10 USD: the payee answers with a wrong fulfilment",
                      payer, ALICE, SHOP, "10")
            await pay("Bob pays Alice 40 USD back", payee, BOB, ALICE, "40")

            await settle(admin, timeline, result)
            result.positions = {n: await admin.position(n) for n in names}
            for n in names:
                timeline.note(f"after settlement: {n} position {result.positions[n]}, "
                              f"settlement account {await admin.settlement_balance(n)} {CURRENCY}")
        finally:
            await payer.stop()
            await payee.stop()
    result.messages = timeline.messages
    result.elapsed_s = time.monotonic() - timeline.started
    timeline.heading(f"done: {len(result.payments)} payments, {result.messages} FSPIOP messages seen by the DFSPs, "
                     f"{result.elapsed_s:.1f} s")
    return result


async def settle(admin: Admin, timeline: Timeline, result: DemoResult) -> None:
    timeline.heading("settlement: close the window, settle it (multilateral net)")
    windows = await admin.call("GET", "/v2/settlementWindows?state=OPEN")
    window_id = int(windows[0]["settlementWindowId"])
    new_window = await admin.call("POST", f"/v2/settlementWindows/{window_id}",
                                  {"state": "CLOSED", "reason": "mojahub demo"})
    timeline.note(f"window {window_id} CLOSED; window {new_window.get('settlementWindowId', new_window.get('id'))} "
                  "is OPEN for new transfers")
    settlement = await admin.call("POST", "/v2/settlements", {
        "settlementModel": MODEL, "reason": "mojahub demo", "settlementWindows": [{"id": window_id}],
    })
    sid = int(settlement["id"])
    accounts: list[dict[str, Any]] = []
    for p in settlement["participants"]:
        for a in p["accounts"]:
            accounts.append({"participant": int(p["id"]), "account": int(a["id"])})
            amount = Decimal(a["netSettlementAmount"]["amount"])
            who = "pays" if amount > 0 else "receives"
            timeline.note(f"settlement {sid}: participant {p['id']} account {a['id']} {who} "
                          f"{abs(amount)} {a['netSettlementAmount']['currency']}")
            result.nets[f"{p['id']}/{a['id']}"] = amount
    for step in SETTLEMENT_STEPS:
        body = {"participants": [
            {"id": a["participant"], "accounts": [{"id": a["account"], "state": step, "reason": "mojahub demo"}]}
            for a in accounts
        ]}
        updated = await admin.call("PUT", f"/v2/settlements/{sid}", body)
        result.settlement_state = str(updated["state"])
        timeline.note(f"settlement {sid}: accounts -> {step}; settlement is {result.settlement_state}")


def demo_settings(base: Settings, database_url: str | None) -> Settings:
    """The hub settings for a demo: loopback, quiet, quick sweeps; a temp SQLite file by default."""
    url = database_url or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='mojahub-demo-')) / 'hub.db'}"
    return base.model_copy(update={
        "database_url": url, "host": "127.0.0.1", "workers": 1, "log_level": "warning",
        "expiry_sweep_interval_s": 0.2, "callback_poll_interval_s": 0.02,
    })
