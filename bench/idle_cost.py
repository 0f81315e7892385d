"""Idle cost of a served hub: CPU of ``mojahub serve`` (all workers) with no traffic at all.

Starts a real hub subprocess on a fresh SQLite file or a throwaway PostgreSQL database, waits
until its operator API answers, lets it settle, then reads the CPU of its process tree from /proc
over ``--seconds`` (and, on PostgreSQL, the transactions the database committed meanwhile).

    .venv/bin/python -m bench.idle_cost --backend postgres --workers 2 --seconds 20
    .venv/bin/python -m bench.idle_cost --backend sqlite --workers 1 --seconds 20 --port 3810
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from bench.cpu import CpuMeter, process_tree
from bench.procs import Server, port_in_use
from bench.run import _hub_argv, _pg_backend_pids, _pg_xacts, postgres_database


@contextlib.asynccontextmanager
async def _database(backend: str, pg_url: str, work: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{work / 'idle.db'}"
        return
    async with postgres_database(pg_url, prefix="mojahub_f_idle") as url:
        yield url


async def measure(backend: str, workers: int, seconds: float, settle_s: float, port: int, pg_url: str,
                  env: dict[str, str]) -> dict[str, float]:
    if port_in_use(port) or port_in_use(port + 1):
        raise SystemExit(f"port {port} or {port + 1} is in use")
    work = Path(tempfile.mkdtemp(prefix="idle_cost_"))
    async with _database(backend, pg_url, work) as url:
        hub = Server(_hub_argv(url, port, port + 1, workers), work / "hub.log",
                     env={"MOJAHUB_LOG_LEVEL": "warning", "MOJAHUB_HOST": "127.0.0.1", **env}).start()
        try:
            await hub.wait_http(f"http://127.0.0.1:{port + 1}/health", timeout_s=90)
            await asyncio.sleep(settle_s)
            dbname = url.rsplit("/", 1)[-1]
            hub_cpu = CpuMeter(lambda: process_tree(hub.pid))
            pg_pids: list[int] = []
            if backend == "postgres":
                pg_pids = await _pg_backend_pids(pg_url, dbname)
            pg_cpu = CpuMeter(lambda: pg_pids)
            xacts0 = await _pg_xacts(pg_url, dbname) if backend == "postgres" else 0
            hub_cpu.start()
            pg_cpu.start()
            t0 = time.perf_counter()
            await asyncio.sleep(seconds)
            hub_s, pg_s = hub_cpu.stop(), pg_cpu.stop()
            wall = time.perf_counter() - t0
            xacts = (await _pg_xacts(pg_url, dbname) - xacts0 - 2) if backend == "postgres" else 0
        finally:
            hub.stop()
    return {
        "hub_pct": 100 * hub_s / wall,
        "db_pct": 100 * pg_s / wall,
        "xacts_per_s": xacts / wall,
        "wall_s": wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="postgres")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--settle", type=float, default=5.0, help="seconds to wait after startup before measuring")
    ap.add_argument("--port", type=int, default=3800, help="FSPIOP port; the operator API uses port + 1")
    ap.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432")
    ap.add_argument("--hub-env", action="append", default=[], metavar="KEY=VALUE")
    a = ap.parse_args()
    env = dict(kv.split("=", 1) for kv in a.hub_env)
    r = asyncio.run(measure(a.backend, a.workers, a.seconds, a.settle, a.port, a.pg_url, env))
    print(f"{a.backend}, {a.workers} worker(s), idle {r['wall_s']:.1f}s: hub {r['hub_pct']:.1f} % of a core"
          + (f", PostgreSQL backends {r['db_pct']:.1f} %, {r['xacts_per_s']:.1f} transactions/s"
             if a.backend == "postgres" else "")
          + f"; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
