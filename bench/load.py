"""The load generator: payer DFSPs sending ``POST /transfers`` and timing each transfer end to
end, from the POST leaving to the hub's ``PUT /transfers/{id}`` arriving at the payer.

Closed loop (N clients, each one transfer at a time) for throughput; open loop (fixed arrival
rate, bounded in-flight) for latency at a given load. Every run is bounded in time and count.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import orjson

from bench.dfsps import SECRET, TRANSFERS_ACCEPT, TRANSFERS_CT, Dfsps
from mojahub.kernel import ilp
from mojahub.kernel.money import UNITS_PER_WHOLE, parse_amount
from mojahub.kernel.timefmt import format_http_date, format_iso

Pair = tuple[str, str]
PHASES = ("post_202", "to_payee", "fulfil_200", "fulfil_to_payer")
Chooser = Callable[[int], Pair]  # sequence number -> (payer, payee)


@dataclass(frozen=True, slots=True)
class PairMaterial:
    """What a payer needs to pay one payee: the quote's ILP packet and condition (built once per
    pair, as if quoted once; the hub does not require conditions to be unique)."""

    packet: str
    condition: str


def quote_material(payer: str, payee: str, amount: str, currency: str, secret: bytes = SECRET) -> PairMaterial:
    transaction = {
        "transactionId": str(uuid.uuid4()),
        "quoteId": str(uuid.uuid4()),
        "payee": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "2771380391", "fspId": payee}},
        "payer": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "2771380390", "fspId": payer}},
        "amount": {"amount": amount, "currency": currency},
        "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"},
    }
    # ILP amounts are in minor units; the bench pays in a 2-decimal currency (USD).
    minor = parse_amount(amount) // (UNITS_PER_WHOLE // 100)
    packet = ilp.payment_packet(minor, f"g.{payee}.msisdn.2771380391", transaction)
    _fulfilment, condition = ilp.condition_pair(secret, packet)
    return PairMaterial(packet=packet, condition=condition)


@dataclass
class RunResult:
    started: float = 0.0
    elapsed_s: float = 0.0
    sent: int = 0
    completed: int = 0
    latencies_s: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    generator_cpu_s: float = 0.0
    # Where the time goes, per completed transfer (seconds): POST answered; prepare reached the
    # payee; payee's fulfil PUT answered by the hub (when that came before the payer's callback);
    # payee's fulfil sent -> payer notified.
    phases: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PHASES})

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def throughput(self) -> float:
        return self.completed / self.elapsed_s if self.elapsed_s > 0 else 0.0


class LoadGenerator:
    """Sends through ``dfsps.client`` (the simulator's HTTP/1.1 client); ``session`` is kept in
    the signature for callers, not used for the transfers."""

    def __init__(
        self,
        hub_fspiop_url: str,
        dfsps: Dfsps,
        session: aiohttp.ClientSession,
        *,
        amount: str = "1",
        currency: str = "USD",
        expiry_s: float = 60.0,
        transfer_timeout_s: float = 30.0,
    ) -> None:
        self.hub = hub_fspiop_url
        self.dfsps = dfsps
        self.session = session
        self.amount = amount
        self.currency = currency
        self.expiry_s = expiry_s
        self.transfer_timeout_s = transfer_timeout_s
        self._material: dict[Pair, PairMaterial] = {}
        self._stamp_second = -1
        self._date = ""
        self._expiration = ""

    def material(self, pair: Pair) -> PairMaterial:
        found = self._material.get(pair)
        if found is None:
            found = self._material[pair] = quote_material(pair[0], pair[1], self.amount, self.currency)
        return found

    def _stamps(self) -> tuple[str, str]:
        # Date and expiration only change once a second: format them once a second.
        second = int(time.time())
        if second != self._stamp_second:
            now = datetime.now(UTC)
            self._date = format_http_date(now)
            self._expiration = format_iso(now + timedelta(seconds=self.expiry_s))
            self._stamp_second = second
        return self._date, self._expiration

    async def transfer(self, payer: str, payee: str, result: RunResult) -> None:
        """One transfer, end to end; records its latency or the reason it failed."""
        material = self.material((payer, payee))
        transfer_id = str(uuid.uuid4())
        date, expiration = self._stamps()
        body = orjson.dumps({
            "transferId": transfer_id,
            "payerFsp": payer,
            "payeeFsp": payee,
            "amount": {"amount": self.amount, "currency": self.currency},
            "ilpPacket": material.packet,
            "condition": material.condition,
            "expiration": expiration,
        })
        headers = {
            "Content-Type": TRANSFERS_CT,
            "Accept": TRANSFERS_ACCEPT,
            "Date": date,
            "FSPIOP-Source": payer,
            "FSPIOP-Destination": payee,
        }
        outcome_future = self.dfsps.expect(transfer_id, payer)
        result.sent += 1
        started = time.perf_counter()
        try:
            resp = await self.dfsps.client.request(
                "POST", f"{self.hub}/transfers", headers=headers, body=body, timeout_s=self.transfer_timeout_s
            )
        except (TimeoutError, OSError) as exc:  # http1.Http1Error is an OSError
            self.dfsps.forget(transfer_id)
            result.failures[f"POST failed: {type(exc).__name__}"] += 1
            return
        acked = time.perf_counter()
        if resp.status != 202:
            self.dfsps.forget(transfer_id)
            result.failures[f"POST {resp.status} {resp.body[:100].decode(errors='replace')}"] += 1
            return
        try:
            outcome = await asyncio.wait_for(outcome_future, self.transfer_timeout_s)
        except TimeoutError:
            self.dfsps.forget(transfer_id)
            result.failures["no callback within timeout"] += 1
            return
        if outcome.ok:
            result.completed += 1
            result.latencies_s.append(outcome.at - started)
            if outcome.payee_marks is not None:
                arrived, sent, answered = outcome.payee_marks
                phases = result.phases
                phases["post_202"].append(acked - started)
                phases["to_payee"].append(arrived - started)
                if not math.isnan(answered):
                    phases["fulfil_200"].append(answered - sent)
                phases["fulfil_to_payer"].append(outcome.at - sent)
        else:
            result.failures[outcome.detail[:120]] += 1

    async def closed_loop(
        self, chooser: Chooser, *, clients: int, duration_s: float, max_transfers: int
    ) -> RunResult:
        """``clients`` concurrent payers' clients, each one transfer at a time, until the time or
        count bound; the run ends when the last in-flight transfer finishes (or times out)."""
        result = RunResult()
        deadline = time.perf_counter() + duration_s
        counter = iter(range(max_transfers))

        async def client() -> None:
            while time.perf_counter() < deadline:
                seq = next(counter, None)
                if seq is None:
                    return
                payer, payee = chooser(seq)
                await self.transfer(payer, payee, result)

        cpu0 = time.process_time()
        result.started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        result.elapsed_s = time.perf_counter() - result.started
        result.generator_cpu_s = time.process_time() - cpu0
        return result

    async def open_loop(
        self, chooser: Chooser, *, rate_per_s: float, duration_s: float, max_transfers: int, max_in_flight: int,
        seed: int = 7,
    ) -> RunResult:
        """Poisson arrivals at ``rate_per_s``; an arrival that finds ``max_in_flight`` transfers
        outstanding is counted as "shed" (the hub is not keeping up) rather than queued."""
        result = RunResult()
        rng = random.Random(seed)
        in_flight: set[asyncio.Task[None]] = set()
        cpu0 = time.process_time()
        result.started = start = time.perf_counter()
        next_at = start
        seq = 0
        while seq < max_transfers and next_at < start + duration_s:
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(in_flight) >= max_in_flight:
                result.failures["shed: too many in flight"] += 1
            else:
                payer, payee = chooser(seq)
                task = asyncio.create_task(self.transfer(payer, payee, result))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            seq += 1
            next_at += rng.expovariate(rate_per_s)
        if in_flight:
            await asyncio.gather(*in_flight)
        result.elapsed_s = time.perf_counter() - start
        result.generator_cpu_s = time.process_time() - cpu0
        return result
