"""The benchmark harness end to end, tiny: a real ``mojahub serve`` subprocess, provisioned
through the operator API, a handful of transfers from the simulated DFSPs, CPU accounting and
the ledger read-back. No timing assertions (numbers belong in bench/, not in tests)."""

from __future__ import annotations

import random
import socket

import pytest
import uvloop
from bench.run import Options, run_backend


@pytest.fixture(scope="module")
def event_loop_policy() -> uvloop.EventLoopPolicy:
    """The loop ``python -m bench`` runs on (it installs uvloop)."""
    return uvloop.EventLoopPolicy()


def _free_port_base() -> int:
    """Three consecutive free loopback ports below the ephemeral range (the harness needs
    base, base+1, base+2; the ceiling port is unused here)."""
    rng = random.Random()
    for _ in range(50):
        base = rng.randrange(20000, 30000)
        ok = True
        for port in (base, base + 1, base + 2):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")


def _options(backend: str, pg_url: str | None = None) -> Options:
    opts = Options(
        backends=[backend], scenarios=["smoke"], duration_s=20, warmup_s=0, max_transfers=6, dfsps=3,
        port_base=_free_port_base(), ceiling=False, verbose=False,
    )
    if pg_url:
        opts.pg_url = pg_url
    return opts


def _check(report_backend: str, report: object) -> None:
    from bench.run import BackendReport

    assert isinstance(report, BackendReport)
    assert report.backend == report_backend
    [smoke] = report.scenarios
    assert smoke.failures == {}
    assert (smoke.sent, smoke.completed, smoke.failed) == (6, 6, 0)
    assert 0 < smoke.p50_ms <= smoke.p99_ms
    assert smoke.hub_cpu_ms_per_transfer > 0
    assert smoke.generator_cpu_ms_per_transfer > 0
    assert {"post_202", "to_payee", "fulfil_to_payer"} <= set(smoke.phase_p50_ms)
    # The payee simulator saw every prepare and its fulfil was accepted each time.
    assert report.sim_counters["prepares_received"] == 6
    assert report.sim_counters["fulfils_sent"] == 6
    assert not report.sim_counters["fulfil_rejected"]
    # Ledger read back through the operator API: the one payer is up 6 USD, the others net -6.
    assert report.positions["bfsp01"] == pytest.approx(6.0)
    assert sum(report.positions.values()) == pytest.approx(0.0)


async def test_bench_smoke_on_sqlite() -> None:
    _check("sqlite", await run_backend("sqlite", _options("sqlite")))


@pytest.mark.postgres
async def test_bench_smoke_on_postgres(pg_server: str) -> None:
    _check("postgres", await run_backend("postgres", _options("postgres", pg_server)))
