"""Process model: one or N worker processes, each serving the FSPIOP app and the operator app on
shared listening sockets and running the background workers. Migrations run once, before the
workers start. SIGINT/SIGTERM stop everything cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
import uvicorn

from mojahub.bootstrap import Hub, build_hub
from mojahub.settings import Settings
from mojahub.storage.engine import create_engine
from mojahub.storage.migrate import upgrade

log = structlog.get_logger(__name__)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def migrate(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def _uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level=settings.log_level,
        access_log=False,
        loop="none",
        http="httptools",
        lifespan="off",
        timeout_keep_alive=30,
        backlog=2048,
        # DFSPs talk to the hub directly; X-Forwarded-* would only cost a middleware per request.
        proxy_headers=False,
        server_header=False,
    )


async def supervised(job: Callable[[], Awaitable[None]], *, first_delay_s: float = 0.5,
                     max_delay_s: float = 30.0) -> None:
    """Run a background job (dispatcher, sweepers, …) and restart it if it fails: a bug or an
    unexpected error in one round must not silently stop callbacks or expiry for the life of the
    process. Each failure is logged with its traceback; restarts back off up to ``max_delay_s``."""
    name = getattr(job, "__qualname__", repr(job))
    failures = 0
    while True:
        try:
            await job()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            delay = min(max_delay_s, first_delay_s * 2 ** min(failures - 1, 10))
            log.exception("mojahub.background_failed", job=name, failures=failures, restart_in_s=delay)
            await asyncio.sleep(delay)


async def serve_hub(hub: Hub, fspiop_sock: socket.socket, admin_sock: socket.socket,
                    stop: asyncio.Event | None = None) -> None:
    """Serve both apps and run the background tasks until ``stop`` is set (or a signal arrives)."""
    from mojahub.api.admin.app import build_admin_app
    from mojahub.api.fspiop.app import build_fspiop_app

    stop = stop or asyncio.Event()
    for hook in hub.startup:  # e.g. create the hub participant (idempotent)
        await hook()
    fspiop = uvicorn.Server(_uvicorn_config(build_fspiop_app(hub), hub.settings))
    admin = uvicorn.Server(_uvicorn_config(build_admin_app(hub), hub.settings))
    for server in (fspiop, admin):
        # We own the signals (one stop event for both servers and the workers).
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    tasks = [
        asyncio.create_task(fspiop.serve(sockets=[fspiop_sock]), name="fspiop-http"),
        asyncio.create_task(admin.serve(sockets=[admin_sock]), name="admin-http"),
    ]
    workers: list[asyncio.Future[None]] = [
        asyncio.ensure_future(supervised(job)) for job in hub.background
    ]
    log.info("mojahub.started", pid=os.getpid(), database=hub.db.dialect)
    await stop.wait()
    fspiop.should_exit = True
    admin.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    for w in workers:
        w.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    await hub.close()
    log.info("mojahub.stopped", pid=os.getpid())


def _worker_main(settings: Settings, fspiop_fd: int, admin_fd: int) -> None:
    fspiop_sock = socket.socket(fileno=fspiop_fd)
    admin_sock = socket.socket(fileno=admin_fd)
    _run_loop(settings, fspiop_sock, admin_sock)


def _run_loop(settings: Settings, fspiop_sock: socket.socket, admin_sock: socket.socket) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # uvloop is optional (not on every platform)
        pass

    async def main() -> None:
        hub = build_hub(settings)
        await serve_hub(hub, fspiop_sock, admin_sock)

    asyncio.run(main())


def run(settings: Settings) -> None:
    """``mojahub serve``: migrate, bind, then serve in this process or in N workers."""
    asyncio.run(migrate(settings))
    fspiop_sock = bind_socket(settings.host, settings.fspiop_port)
    admin_sock = bind_socket(settings.host, settings.admin_port)
    print(
        f"mojahub: FSPIOP API on http://{settings.host}:{settings.fspiop_port}, "
        f"operator API on http://{settings.host}:{settings.admin_port} "
        f"({settings.workers} worker(s), database {settings.database_url.split('://')[0]})",
        flush=True,
    )
    if settings.workers == 1:
        _run_loop(settings, fspiop_sock, admin_sock)
        return
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_worker_main, args=(settings, fspiop_sock.fileno(), admin_sock.fileno()),
                    name=f"mojahub-worker-{i}")
        for i in range(settings.workers)
    ]
    for p in procs:
        p.start()

    def _forward(signum: int, _frame: Any) -> None:
        for p in procs:
            if p.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, _forward)
    signal.signal(signal.SIGTERM, _forward)
    for p in procs:
        p.join()
