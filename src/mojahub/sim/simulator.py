"""One simulated DFSP: an FSPIOP server the hub calls back (payee side and payer callbacks) and
an outbound API (SDK scheme adapter style) the DFSP's own back office — or a test — calls.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from mojahub.kernel.clock import Clock
from mojahub.sim.config import SimConfig
from mojahub.sim.core import SimCore
from mojahub.sim.events import EventSink, SimEvent
from mojahub.sim.payee import PayeeSide
from mojahub.sim.payer import OutboundTransfer, OutboundTransferRequest, PayerSide


class Simulator:
    def __init__(self, config: SimConfig, *, clock: Clock | None = None, on_event: EventSink | None = None) -> None:
        self.core = SimCore(config, clock=clock, on_event=on_event)
        self.payee = PayeeSide(self.core)
        self.payer = PayerSide(self.core, on_foreign_transfer=self.payee.on_transfer_callback)
        self._runners: list[web.AppRunner] = []
        self.fspiop_url = ""
        self.outbound_url = ""

    @property
    def config(self) -> SimConfig:
        return self.core.config

    @property
    def events(self) -> list[SimEvent]:
        return self.core.events

    def fspiop_app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.add_routes(self.payee.routes())
        app.add_routes(self.payer.callback_routes())
        return app

    def outbound_app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.add_routes(self.payer.outbound_routes())
        return app

    async def start(self, host: str = "127.0.0.1", fspiop_port: int = 0, outbound_port: int | None = 0) -> None:
        """Open the hub client and serve the FSPIOP port (and the outbound API unless None)."""
        await self.core.open()
        self.fspiop_url = await self._serve(self.fspiop_app(), host, fspiop_port)
        if outbound_port is not None:
            self.outbound_url = await self._serve(self.outbound_app(), host, outbound_port)

    async def _serve(self, app: web.Application, host: str, port: int) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runners.append(runner)
        server = site._server
        assert server is not None
        sockets: Any = getattr(server, "sockets", None)
        bound = sockets[0].getsockname()[1] if sockets else port
        return f"http://{host}:{bound}"

    async def stop(self) -> None:
        await self.core.close()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()

    async def __aenter__(self) -> Simulator:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def register_parties(self) -> list[tuple[str, bool, dict[str, Any]]]:
        """Register every configured party with the hub's ALS (``POST /participants/{Type}/{ID}``)."""
        results = await asyncio.gather(*(
            self.payer.register_party(p.id_type, p.id_value) for p in self.config.parties if not p.sub_id
        ))
        keys = [f"{p.id_type}/{p.id_value}" for p in self.config.parties if not p.sub_id]
        return [(k, ok, body) for k, (ok, body) in zip(keys, results, strict=True)]

    # ---- the payer API in Python (same flow as POST /transfers on the outbound port) ----------
    async def send_transfer(self, request: OutboundTransferRequest | dict[str, Any]) -> OutboundTransfer:
        req = request if isinstance(request, OutboundTransferRequest) else OutboundTransferRequest.model_validate(
            request)
        return await self.payer.send_transfer(req)

    async def pay(self, *, to: tuple[str, str], amount: str, currency: str | None = None,
                  from_: tuple[str, str] | None = None, note: str | None = None) -> OutboundTransfer:
        """Convenience: pay ``amount`` to the party ``to`` = (idType, idValue)."""
        cfg = self.config
        sender = from_ or ((cfg.parties[0].id_type, cfg.parties[0].id_value) if cfg.parties else ("MSISDN", "0"))
        body: dict[str, Any] = {
            "from": {"idType": sender[0], "idValue": sender[1]},
            "to": {"idType": to[0], "idValue": to[1]},
            "amountType": "SEND", "currency": currency or cfg.currency, "amount": amount,
        }
        if note:
            body["note"] = note
        return await self.send_transfer(body)


async def run_simulator(config: SimConfig, host: str, fspiop_port: int, outbound_port: int,
                        stop: asyncio.Event, *, register: bool = True) -> None:
    """``mojahub sim``: serve until ``stop`` is set, printing every FSPIOP message."""
    sim = Simulator(config, on_event=lambda e: print(e.line(), flush=True))
    await sim.start(host, fspiop_port, outbound_port)
    print(f"{config.fsp_id}: FSPIOP on {sim.fspiop_url}, outbound API on {sim.outbound_url}, "
          f"hub {config.hub_url}", flush=True)
    try:
        if register and config.parties:
            for key, ok, body in await sim.register_parties():
                print(f"{config.fsp_id}: register {key}: {'ok' if ok else body}", flush=True)
        await stop.wait()
    finally:
        await sim.stop()
