"""``python -m bench``: run the benchmark and print the numbers (see docs/performance.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench.ceiling import WRK_INSTALL_HINT, wrk_available
from bench.run import DEFAULT_SCENARIOS, PG_DEFAULT, SCENARIOS, BackendReport, Options, run


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--backend", default="sqlite,postgres", help="comma list of sqlite, postgres")
    p.add_argument("--scenario", default=",".join(DEFAULT_SCENARIOS),
                   help=f"comma list of {', '.join(SCENARIOS)}")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per backend")
    p.add_argument("--max-transfers", type=int, default=1_000_000, help="count bound per scenario")
    p.add_argument("--workers", type=int, default=None, help="hub workers (default: 1 on SQLite, 2 on PostgreSQL)")
    p.add_argument("--dfsps", type=int, default=20)
    p.add_argument("--port-base", type=int, default=3500, help="hub :N/:N+1, DFSPs :N+2, ceiling :N+10")
    p.add_argument("--no-ceiling", action="store_true", help="skip the wrk ceiling run")
    p.add_argument("--ceiling-duration", type=float, default=5.0)
    p.add_argument("--ceiling-connections", type=int, default=64)
    p.add_argument("--peak-rate", type=float, default=None, help="transfers/s for the 'half' scenario")
    p.add_argument("--pg-url", default=PG_DEFAULT, help="server URL; a throwaway database is created on it")
    p.add_argument("--hub-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the hub (e.g. MOJAHUB_POSITION_BATCH_WINDOW_MS=4)")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    p.add_argument("--profile", type=Path, default=None, metavar="DIR",
                   help="record the hub with py-spy (collapsed stacks per scenario) into DIR")
    p.add_argument("--log-dir", type=Path, default=None, help="keep hub/ceiling logs here")
    a = p.parse_args(argv)
    backends = [b.strip() for b in a.backend.split(",") if b.strip()]
    scenarios = [s.strip() for s in a.scenario.split(",") if s.strip()]
    for b in backends:
        if b not in ("sqlite", "postgres"):
            p.error(f"unknown backend {b}")
    for s in scenarios:
        if s not in SCENARIOS:
            p.error(f"unknown scenario {s}")
    env = {}
    for item in a.hub_env:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--hub-env wants KEY=VALUE, got {item}")
        env[key] = value
    if not a.no_ceiling and not wrk_available():
        p.error(WRK_INSTALL_HINT)
    return Options(
        backends=backends, scenarios=scenarios, workers=a.workers, duration_s=a.duration, warmup_s=a.warmup,
        max_transfers=a.max_transfers, dfsps=a.dfsps, port_base=a.port_base, ceiling=not a.no_ceiling,
        ceiling_duration_s=a.ceiling_duration, ceiling_connections=a.ceiling_connections, peak_rate=a.peak_rate,
        pg_url=a.pg_url, hub_env=env, log_dir=a.log_dir, json_path=a.json, profile_dir=a.profile,
    )


def _fmt(value: float | None, spec: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def render(reports: list[BackendReport]) -> str:
    lines: list[str] = []
    for b in reports:
        head = f"== {b.backend}, {b.workers} worker(s)"
        if b.ceiling:
            c = b.ceiling
            head += (f"; R = {c.requests_per_s:,.0f} req/s (wrk -c{c.connections}, "
                     f"{c.server_cpu_ms_per_request:.3f} CPU-ms/req)")
        lines.append(head)
        lines.append(f"{'scenario':<8} {'clients':>7} {'rate':>6} {'done':>7} {'fail':>5} {'tr/s':>7} {'xR':>6} "
                     f"{'p50':>7} {'p95':>7} {'p99':>7} {'hubCPU':>7} {'hubMrg':>6} {'dbCPU':>6} {'genCPU':>6} "
                     f"{'hub%':>5}  (ms; CPU-ms/transfer; hubMrg = minus idle)")
        for r in b.scenarios:
            lines.append(
                f"{r.scenario:<8} {r.clients or '-':>7} {_fmt(r.rate_per_s, '.0f'):>6} {r.completed:>7} {r.failed:>5} "
                f"{r.transfers_per_s:>7.0f} {_fmt(r.ratio_of_r, '.3f'):>6} {_fmt(r.p50_ms):>7} {_fmt(r.p95_ms):>7} "
                f"{_fmt(r.p99_ms):>7} {r.hub_cpu_ms_per_transfer if r.completed else math.nan:>7.2f} "
                f"{_fmt(r.hub_cpu_ms_per_transfer_marginal, '.2f'):>6} {_fmt(r.db_cpu_ms_per_transfer, '.2f'):>6} "
                f"{r.generator_cpu_ms_per_transfer:>6.2f} {r.hub_cpu_pct:>5.0f}"
            )
            if r.db_transactions_per_transfer is not None:
                lines.append(f"{'':<10}database transactions per transfer: {r.db_transactions_per_transfer:.1f} "
                             "(incl. pollers; pg_stat_database)")
            if r.phase_p50_ms:
                phases = ", ".join(f"{k} {v:.1f}" for k, v in r.phase_p50_ms.items())
                lines.append(f"{'':<10}p50 phases (ms): {phases}")
            for reason, count in r.failures.items():
                lines.append(f"{'':<10}failure x{count}: {reason}")
        lines.extend(targets(b))
        if b.positions:
            total = sum(b.positions.values())
            lines.append(f"   ledger check: {len(b.positions)} DFSP positions sum to {total:g} "
                         f"{'(OK)' if abs(total) < 1e-9 else '(NOT ZERO)'}")
    return "\n".join(lines)


def targets(b: BackendReport) -> list[str]:
    """The issue's targets, checked against this run (reported, never asserted)."""
    by = {r.scenario: r for r in b.scenarios}
    out: list[str] = []
    closed = [r for r in b.scenarios if r.rate_per_s is None and r.scenario not in ("smoke", "idle")]
    if b.ceiling and closed:
        best = max(closed, key=lambda r: r.transfers_per_s)
        ratio = best.transfers_per_s / b.ceiling.requests_per_s
        goal = "target >= 0.02 R (aim 0.04 R)" if b.backend == "postgres" else "(targets are set for PostgreSQL)"
        out.append(f"   peak end-to-end: {best.transfers_per_s:,.0f}/s = {ratio:.3f} R [{best.scenario}] {goal}")
    if "hot8" in by and "hot32" in by and by["hot8"].transfers_per_s > 0:
        k = by["hot32"].transfers_per_s / by["hot8"].transfers_per_s
        out.append(f"   hot payer 32 vs 8 clients: {k:.2f} x (target >= 0.9) {'OK' if k >= 0.9 else 'MISSED'}")
    if "half" in by:
        h = by["half"]
        ok = h.p99_ms <= 200 and h.failed == 0
        out.append(f"   p99 at half the peak rate ({_fmt(h.rate_per_s, '.0f')}/s): {_fmt(h.p99_ms)} ms "
                   f"(target <= 200 ms) {'OK' if ok else 'MISSED'}")
    return out


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    reports = asyncio.run(run(opts))
    print(render(reports))
    if opts.json_path is not None:
        doc = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "argv": sys.argv[1:] if argv is None else argv,
               "backends": [asdict(r) for r in reports]}
        opts.json_path.write_text(json.dumps(doc, indent=2, default=str))
    failed = sum(r.failed for b in reports for r in b.scenarios)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    sys.exit(main())
