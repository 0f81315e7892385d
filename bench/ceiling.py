"""The raw HTTP ceiling R: wrk against ``bench.ceiling_app`` on uvicorn (httptools + uvloop),
with the same worker count as the hub under test."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import CpuMeter, process_tree
from bench.procs import Server

WRK_INSTALL_HINT = "wrk is not installed: `sudo apt-get install -y wrk` (Debian package `wrk`), or pass --no-ceiling"


@dataclass(frozen=True)
class CeilingResult:
    workers: int
    connections: int
    duration_s: float
    requests_per_s: float
    server_cpu_ms_per_request: float
    p99_ms: float | None


_RPS_RE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_P99_RE = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_REQS_RE = re.compile(r"^\s+(\d+) requests in ", re.MULTILINE)


def parse_wrk(output: str) -> tuple[float, int, float | None]:
    """(requests/s, total requests, p99 ms or None) from wrk's text output (run with --latency)."""
    rps = _RPS_RE.search(output)
    total = _REQS_RE.search(output)
    if rps is None or total is None:
        raise ValueError(f"unexpected wrk output:\n{output}")
    p99: float | None = None
    m = _P99_RE.search(output)
    if m:
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
        p99 = float(m.group(1)) * scale
    return float(rps.group(1)), int(total.group(1)), p99


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


async def measure_ceiling(
    *, workers: int, port: int, duration_s: float, connections: int, log_dir: Path, threads: int = 2
) -> CeilingResult:
    if not wrk_available():
        raise RuntimeError(WRK_INSTALL_HINT)
    argv = [
        sys.executable, "-m", "uvicorn", "bench.ceiling_app:app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning",
        "--lifespan", "off", "--backlog", "2048",
    ]
    server = Server(argv, log_dir / f"ceiling-{port}.log").start()
    try:
        url = f"http://127.0.0.1:{port}/"
        await server.wait_http(url, timeout_s=30)
        meter = CpuMeter(lambda: process_tree(server.pid))
        meter.start()
        wrk = await asyncio.create_subprocess_exec(
            "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration_s:g}s", "--latency", url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(wrk.communicate(), duration_s + 30)
        cpu_s = meter.stop()
        if wrk.returncode != 0:
            raise RuntimeError(f"wrk failed ({wrk.returncode}): {out.decode(errors='replace')}")
    finally:
        server.stop()
    rps, total, p99 = parse_wrk(out.decode())
    return CeilingResult(
        workers=workers,
        connections=connections,
        duration_s=duration_s,
        requests_per_s=rps,
        server_cpu_ms_per_request=cpu_s * 1000 / max(total, 1),
        p99_ms=p99,
    )
