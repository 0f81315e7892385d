"""Batch-shaped position processing (ARCHITECTURE: "positions are the contention point").

Requests that arrive within ``window_s`` of each other (or up to ``max_items``) are handed to
``run`` together; ``run`` applies them in ONE transaction as a fold in arrival order and returns
one outcome per request (None, or the exception that request raised). Each caller is answered only
after the transaction holding its request has committed. Up to ``max_in_flight`` batches run at
once per process (1 on SQLite, whose writes are serialised anyway); the next one gathers while
the running ones commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

Runner = Callable[[Sequence[T]], Awaitable[Sequence[BaseException | None]]]


class Batcher(Generic[T]):
    def __init__(self, run: Runner[T], *, window_s: float, max_items: int, max_in_flight: int = 1) -> None:
        assert max_items >= 1
        assert max_in_flight >= 1
        self._max_in_flight = max_in_flight
        self._running: set[asyncio.Task[None]] = set()
        self._run = run
        self._window_s = window_s
        self._max_items = max_items
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # observability: batches run and items processed
        self.items = 0

    async def submit(self, item: T) -> None:
        """Queue ``item`` and wait until the transaction that applied it has committed."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="transfers-batcher")
        await fut

    async def close(self) -> None:
        for running in list(self._running):
            running.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for _item, fut in self._pending:
            if not fut.done():
                fut.set_exception(RuntimeError("transfers batcher closed"))
        self._pending.clear()

    async def _loop(self) -> None:
        idle = True
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                idle = True
            if idle and self._window_s > 0 and len(self._pending) < self._max_items:
                # Give concurrent requests a moment to join this batch.
                await asyncio.sleep(self._window_s)
            while len(self._running) >= self._max_in_flight:
                await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
            batch = self._pending[: self._max_items]
            del self._pending[: len(batch)]
            idle = False
            if not batch:
                continue
            task = asyncio.create_task(self._execute(batch), name="transfers-batch")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _execute(self, batch: list[tuple[T, asyncio.Future[None]]]) -> None:
        try:
            outcomes = await self._run([item for item, _ in batch])
        except asyncio.CancelledError:
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(RuntimeError("transfers batcher cancelled"))
            raise
        except Exception as exc:  # the runner failed as a whole: every caller hears why
            outcomes = [exc] * len(batch)
        assert len(outcomes) == len(batch)
        self.batches += 1
        self.items += len(batch)
        for (_, fut), outcome in zip(batch, outcomes, strict=True):
            if fut.done():
                continue
            if outcome is None:
                fut.set_result(None)
            else:
                fut.set_exception(outcome)
