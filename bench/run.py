"""Orchestration: per backend, start the hub subprocess, provision it, run the scenarios with
CPU accounting, stop everything; plus the raw HTTP ceiling R for the same worker count."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.ceiling import CeilingResult, measure_ceiling
from bench.cpu import CpuMeter, process_tree
from bench.dfsps import Dfsps, transfer_endpoints
from bench.load import Chooser, LoadGenerator, RunResult
from bench.procs import Server, port_in_use
from bench.provision import provision, read_positions
from bench.stats import summarize

PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    payers: str  # "spread" | "hot" | "mix70" | "none" (idle)
    clients: int = 32
    open_loop_fraction: float | None = None  # open loop at this fraction of the backend's peak


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("spread", "20 payers, 32 clients", "spread", 32),
        # Closed loop with enough clients to keep every core busy: the peak rate (32 clients are
        # latency-bound on a 2-core box: each waits ~50 ms per transfer).
        Scenario("spread128", "20 payers, 128 clients (the peak)", "spread", 128),
        Scenario("hot8", "one hot payer, 8 clients", "hot", 8),
        Scenario("hot32", "one hot payer, 32 clients", "hot", 32),
        Scenario("mix70", "70% from one hot payer, 32 clients", "mix70", 32),
        Scenario("half", "open loop at half the peak rate, 20 payers", "spread", 0, open_loop_fraction=0.5),
        Scenario("idle", "no load: the hub's fixed cost (pollers, sweepers, caches)", "none", 0),
        Scenario("smoke", "a handful of transfers from one payer, 2 clients", "hot", 2),
    )
}
DEFAULT_SCENARIOS = ("idle", "spread", "spread128", "hot8", "hot32", "mix70", "half")


def chooser(kind: str, names: list[str]) -> Chooser:
    n = len(names)
    if n < 2:
        raise ValueError("need at least two DFSPs")

    def spread(seq: int) -> tuple[str, str]:
        payer = seq % n
        return names[payer], names[(payer + 1 + (seq // n) % (n - 1)) % n]

    def hot(seq: int) -> tuple[str, str]:
        return names[0], names[1 + seq % (n - 1)]

    def mix70(seq: int) -> tuple[str, str]:
        return hot(seq) if (seq * 7919) % 100 < 70 else spread(seq)

    return {"spread": spread, "hot": hot, "mix70": mix70, "none": spread}[kind]


@dataclass
class Options:
    backends: list[str]
    scenarios: list[str]
    workers: int | None = None  # None: 1 on SQLite, 2 on PostgreSQL
    duration_s: float = 10.0
    warmup_s: float = 2.0
    max_transfers: int = 1_000_000
    dfsps: int = 20
    port_base: int = 3500
    ceiling: bool = True
    ceiling_duration_s: float = 5.0
    ceiling_connections: int = 64
    peak_rate: float | None = None
    pg_url: str = PG_DEFAULT
    hub_env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    json_path: Path | None = None
    profile_dir: Path | None = None  # py-spy collapsed stacks of the hub, one file per scenario
    verbose: bool = True

    def workers_for(self, backend: str) -> int:
        return self.workers or (1 if backend == "sqlite" else 2)


@dataclass
class ScenarioReport:
    backend: str
    scenario: str
    description: str
    clients: int
    rate_per_s: float | None
    sent: int
    completed: int
    failed: int
    failures: dict[str, int]
    elapsed_s: float
    transfers_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    hub_cpu_ms_per_transfer: float
    hub_cpu_pct: float  # hub CPU seconds per wall second, x100 (all hub processes)
    # Hub CPU per transfer minus the idle baseline (when the run measured one first).
    hub_cpu_ms_per_transfer_marginal: float | None
    db_cpu_ms_per_transfer: float | None
    db_transactions_per_transfer: float | None
    generator_cpu_ms_per_transfer: float
    phase_p50_ms: dict[str, float] = field(default_factory=dict)
    ratio_of_r: float | None = None


@dataclass
class BackendReport:
    backend: str
    workers: int
    ceiling: CeilingResult | None
    scenarios: list[ScenarioReport]
    sim_counters: dict[str, Any]
    # Net positions read back through the operator API after the run (currency units); every
    # committed transfer moves one payer up and one payee down, so they must sum to zero.
    positions: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _say(opts: Options, text: str) -> None:
    if opts.verbose:
        print(text, file=sys.stderr, flush=True)


# -------------------------------------------------------------------------------- databases


@contextlib.asynccontextmanager
async def sqlite_database(work: Path) -> AsyncIterator[str]:
    yield f"sqlite+aiosqlite:///{work / 'hub.db'}"


def _pg_admin_dsn(pg_url: str) -> str:
    return pg_url.replace("postgresql+asyncpg://", "postgresql://").rstrip("/") + "/postgres"


@contextlib.asynccontextmanager
async def postgres_database(pg_url: str, prefix: str = "mojahub_bench") -> AsyncIterator[str]:
    """A throwaway database, dropped (WITH FORCE) afterwards."""
    import asyncpg

    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(_pg_admin_dsn(pg_url), timeout=10)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{pg_url.rstrip('/')}/{name}"
    finally:
        with contextlib.suppress(Exception):
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _pg_xacts(pg_url: str, database: str) -> int:
    """Transactions committed + rolled back in ``database`` so far (pg_stat_database)."""
    import asyncpg

    conn = await asyncpg.connect(_pg_admin_dsn(pg_url), timeout=10)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        value = await conn.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", database
        )
    finally:
        await conn.close()
    return int(value or 0)


async def _pg_backend_pids(pg_url: str, database: str) -> list[int]:
    import asyncpg

    conn = await asyncpg.connect(_pg_admin_dsn(pg_url), timeout=10)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
    finally:
        await conn.close()
    return [int(r["pid"]) for r in rows]


# -------------------------------------------------------------------------------- one backend


def _hub_argv(database_url: str, fspiop_port: int, admin_port: int, workers: int) -> list[str]:
    return [
        sys.executable, "-m", "mojahub", "serve",
        "--database-url", database_url,
        "--fspiop-port", str(fspiop_port),
        "--admin-port", str(admin_port),
        "--workers", str(workers),
    ]


async def run_backend(backend: str, opts: Options) -> BackendReport:
    workers = opts.workers_for(backend)
    fspiop_port, admin_port, sim_port, ceiling_port = (opts.port_base + i for i in (0, 1, 2, 10))
    for port in (fspiop_port, admin_port, sim_port):
        if port_in_use(port):
            raise RuntimeError(f"port {port} is in use (choose another --port-base)")
    work = Path(tempfile.mkdtemp(prefix=f"mojahub-bench-{backend}-"))
    log_dir = opts.log_dir or work
    ceiling: CeilingResult | None = None
    if opts.ceiling:
        _say(opts, f"[{backend}] ceiling: wrk -c{opts.ceiling_connections} against uvicorn x{workers} ...")
        ceiling = await measure_ceiling(
            workers=workers, port=ceiling_port, duration_s=opts.ceiling_duration_s,
            connections=opts.ceiling_connections, log_dir=log_dir,
        )
        _say(opts, f"[{backend}] R = {ceiling.requests_per_s:,.0f} req/s")

    db_cm = sqlite_database(work) if backend == "sqlite" else postgres_database(opts.pg_url)
    reports: list[ScenarioReport] = []
    counters: dict[str, Any] = {}
    positions: dict[str, float] = {}
    try:
        async with db_cm as database_url:
            env = {"MOJAHUB_LOG_LEVEL": "warning", "MOJAHUB_HOST": "127.0.0.1", **opts.hub_env}
            hub = Server(_hub_argv(database_url, fspiop_port, admin_port, workers), log_dir / f"hub-{backend}.log",
                         env=env).start()
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
            try:
                async with aiohttp.ClientSession(connector=connector) as session:
                    await hub.wait_http(f"http://127.0.0.1:{admin_port}/health", timeout_s=90)
                    hub_url = f"http://127.0.0.1:{fspiop_port}"
                    dfsps = await Dfsps(hub_url, session).start(sim_port)
                    try:
                        names = [f"bfsp{i:02d}" for i in range(1, opts.dfsps + 1)]
                        _say(opts, f"[{backend}] provisioning {len(names)} DFSPs through the operator API ...")
                        await provision(session, f"http://127.0.0.1:{admin_port}",
                                        {n: transfer_endpoints(dfsps.url, n) for n in names})
                        generator = LoadGenerator(hub_url, dfsps, session)
                        reports = await _run_scenarios(backend, opts, hub, generator, names, database_url)
                        counters = asdict(dfsps.counters)
                        positions = await read_positions(session, f"http://127.0.0.1:{admin_port}", names)
                    finally:
                        await dfsps.stop()
            finally:
                hub.stop()
    finally:
        if opts.log_dir is None and not reports:
            _say(opts, f"[{backend}] logs kept in {work}")
        elif opts.log_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    if ceiling is not None:
        for r in reports:
            r.ratio_of_r = r.transfers_per_s / ceiling.requests_per_s
    return BackendReport(backend=backend, workers=workers, ceiling=ceiling, scenarios=reports, sim_counters=counters,
                         positions=positions)


async def _run_scenarios(
    backend: str, opts: Options, hub: Server, generator: LoadGenerator, names: list[str], database_url: str
) -> list[ScenarioReport]:
    reports: list[ScenarioReport] = []
    if opts.warmup_s > 0:
        await generator.closed_loop(chooser("spread", names), clients=8, duration_s=opts.warmup_s,
                                    max_transfers=opts.max_transfers)
    peak = opts.peak_rate
    idle_cpu_per_s: float | None = None
    ordered = sorted(opts.scenarios, key=lambda n: n != "idle")  # the baseline first
    for name in ordered:
        scenario = SCENARIOS[name]
        db_pids: list[int] = []
        xacts_before = 0
        if backend == "postgres":
            db_pids = await _pg_backend_pids(opts.pg_url, database_url.rsplit("/", 1)[1])
            xacts_before = await _pg_xacts(opts.pg_url, database_url.rsplit("/", 1)[1])
        hub_meter = CpuMeter(lambda: process_tree(hub.pid))
        db_meter = CpuMeter(lambda pids=db_pids: pids)  # the list is refreshed in place below
        profiler = await _start_profiler(opts, hub, backend, name)
        hub_meter.start()
        db_meter.start()
        rate: float | None = None
        if scenario.payers == "none":
            _say(opts, f"[{backend}] {name}: {opts.duration_s:g}s without load ...")
            result = RunResult()
            started = time.perf_counter()
            await asyncio.sleep(opts.duration_s)
            result.elapsed_s = time.perf_counter() - started
        elif scenario.open_loop_fraction is not None:
            if not peak:
                _say(opts, f"[{backend}] {name}: skipped (no peak rate: run a closed-loop scenario first or "
                           "pass --peak-rate)")
                continue
            rate = peak * scenario.open_loop_fraction
            _say(opts, f"[{backend}] {name}: open loop at {rate:,.0f}/s for {opts.duration_s:g}s ...")
            result = await generator.open_loop(
                chooser(scenario.payers, names), rate_per_s=rate, duration_s=opts.duration_s,
                max_transfers=opts.max_transfers, max_in_flight=512,
            )
        else:
            _say(opts, f"[{backend}] {name}: {scenario.description} for {opts.duration_s:g}s ...")
            result = await generator.closed_loop(
                chooser(scenario.payers, names), clients=scenario.clients, duration_s=opts.duration_s,
                max_transfers=opts.max_transfers,
            )
        hub_cpu = hub_meter.stop()
        await _stop_profiler(profiler)
        if backend == "postgres":
            # Pick up backends that connected during the run (they count from zero).
            db_pids[:] = sorted(set(db_pids) | set(await _pg_backend_pids(opts.pg_url,
                                                                           database_url.rsplit("/", 1)[1])))
        db_cpu = db_meter.stop() if backend == "postgres" else None
        report = _report(backend, scenario, rate, result, hub_cpu, db_cpu, idle_cpu_per_s)
        if backend == "postgres" and result.completed:
            # Statistics reach pg_stat_database when a backend goes idle: give them a moment.
            await asyncio.sleep(1.0)
            xacts = await _pg_xacts(opts.pg_url, database_url.rsplit("/", 1)[1]) - xacts_before
            report.db_transactions_per_transfer = xacts / result.completed
        if scenario.payers == "none":
            idle_cpu_per_s = hub_cpu / result.elapsed_s
        reports.append(report)
        _say(opts, f"[{backend}] {name}: {report.transfers_per_s:,.0f}/s p99 {report.p99_ms:.1f} ms, "
                   f"{report.failed} failed")
        if scenario.open_loop_fraction is None and name not in ("smoke", "idle"):
            peak = max(peak or 0.0, report.transfers_per_s)
    return reports


async def _start_profiler(opts: Options, hub: Server, backend: str, scenario: str) -> asyncio.subprocess.Process | None:
    if opts.profile_dir is None:
        return None
    opts.profile_dir.mkdir(parents=True, exist_ok=True)
    out = opts.profile_dir / f"hub-{backend}-{scenario}.txt"
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return await asyncio.create_subprocess_exec(
        spy, "record", "--pid", str(hub.pid), "--subprocesses", "--nonblocking", "--gil", "--rate", "250",
        "--format", "raw", "--output", str(out), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )


async def _stop_profiler(profiler: asyncio.subprocess.Process | None) -> None:
    if profiler is None:
        return
    profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        await asyncio.wait_for(profiler.wait(), 30)
    except TimeoutError:
        profiler.kill()
        await profiler.wait()


def _report(
    backend: str, scenario: Scenario, rate: float | None, result: RunResult, hub_cpu_s: float, db_cpu_s: float | None,
    idle_cpu_per_s: float | None,
) -> ScenarioReport:
    lat = summarize(result.latencies_s)
    done = max(result.completed, 1)
    marginal = None
    if idle_cpu_per_s is not None and result.completed:
        marginal = (hub_cpu_s - idle_cpu_per_s * result.elapsed_s) * 1000 / done
    return ScenarioReport(
        backend=backend,
        scenario=scenario.name,
        description=scenario.description,
        clients=scenario.clients,
        rate_per_s=rate,
        sent=result.sent,
        completed=result.completed,
        failed=result.failed,
        failures=dict(result.failures.most_common(5)),
        elapsed_s=result.elapsed_s,
        transfers_per_s=result.throughput,
        p50_ms=lat.p50_ms,
        p95_ms=lat.p95_ms,
        p99_ms=lat.p99_ms,
        max_ms=lat.max_ms,
        hub_cpu_ms_per_transfer=hub_cpu_s * 1000 / done,
        hub_cpu_pct=hub_cpu_s * 100 / result.elapsed_s if result.elapsed_s > 0 else 0.0,
        hub_cpu_ms_per_transfer_marginal=marginal,
        db_cpu_ms_per_transfer=None if db_cpu_s is None or not result.completed else db_cpu_s * 1000 / done,
        db_transactions_per_transfer=None,
        generator_cpu_ms_per_transfer=result.generator_cpu_s * 1000 / done,
        phase_p50_ms={k: summarize(v).p50_ms for k, v in result.phases.items() if v},
    )


async def run(opts: Options) -> list[BackendReport]:
    return [await run_backend(backend, opts) for backend in opts.backends]
