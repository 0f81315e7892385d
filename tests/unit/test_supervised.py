"""Background jobs are restarted after a failure (server.supervised), never silently lost."""

from __future__ import annotations

import asyncio

import pytest

from mojahub.server import supervised


async def test_a_failing_job_is_logged_and_restarted_until_it_finishes() -> None:
    runs: list[int] = []

    async def job() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise ValueError(f"boom {len(runs)}")

    await asyncio.wait_for(supervised(job, first_delay_s=0.001), timeout=5)
    assert runs == [0, 1, 2]


async def test_cancellation_stops_the_job_without_a_restart() -> None:
    started = asyncio.Event()
    runs = 0

    async def job() -> None:
        nonlocal runs
        runs += 1
        started.set()
        await asyncio.sleep(60)

    task = asyncio.create_task(supervised(job, first_delay_s=0.001))
    await asyncio.wait_for(started.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runs == 1
