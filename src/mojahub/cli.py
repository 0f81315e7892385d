"""The ``mojahub`` command: serve, migrate, version (and, as contexts grow, onboard, sim, demo)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from mojahub import __version__
from mojahub.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="mojahub: a Mojaloop-compatible switch")


def _settings(**cli: Any) -> Settings:
    overrides = {k: v for k, v in cli.items() if v is not None}
    return Settings(**overrides)


@app.command()
def serve(
    database_url: Annotated[str | None, typer.Option(help="MOJAHUB_DATABASE_URL")] = None,
    host: Annotated[str | None, typer.Option(help="MOJAHUB_HOST")] = None,
    fspiop_port: Annotated[int | None, typer.Option(help="MOJAHUB_FSPIOP_PORT")] = None,
    admin_port: Annotated[int | None, typer.Option(help="MOJAHUB_ADMIN_PORT")] = None,
    workers: Annotated[int | None, typer.Option(help="MOJAHUB_WORKERS")] = None,
) -> None:
    """Run the hub: FSPIOP API, operator API and background workers."""
    from mojahub.logs import configure_logging
    from mojahub.server import run

    settings = _settings(database_url=database_url, host=host, fspiop_port=fspiop_port,
                         admin_port=admin_port, workers=workers)
    configure_logging(settings.log_level)
    run(settings)


@app.command()
def migrate(
    database_url: Annotated[str | None, typer.Option(help="MOJAHUB_DATABASE_URL")] = None,
) -> None:
    """Apply database migrations and exit."""
    from mojahub.server import migrate as do_migrate

    settings = _settings(database_url=database_url)
    asyncio.run(do_migrate(settings))
    typer.echo(f"migrated {settings.database_url.split('://')[0]} database to head")


@app.command()
def onboard(
    scheme_file: Annotated[str, typer.Argument(help="scheme file (YAML or JSON), e.g. examples/scheme.yaml")],
    database_url: Annotated[str | None, typer.Option(help="MOJAHUB_DATABASE_URL")] = None,
    hub: Annotated[str | None, typer.Option(help="operator API of a running hub, e.g. http://127.0.0.1:3001")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report what would change, keep nothing")] = False,
) -> None:
    """Apply a scheme file idempotently: hub accounts, settlement models, DFSPs, NDC, funds, endpoints."""
    from pathlib import Path

    from mojahub.kernel.errors import HubError

    raw = Path(scheme_file).read_bytes()
    try:
        if hub is not None:
            result = asyncio.run(_onboard_remote(hub, raw, dry_run))
        else:
            result = asyncio.run(_onboard_local(_settings(database_url=database_url), raw, scheme_file, dry_run))
    except HubError as err:
        typer.echo(f"onboarding failed, nothing applied: {err.description}", err=True)
        raise typer.Exit(code=2) from err
    for change in result.get("changes", []):
        detail = f" ({change['detail']})" if change.get("detail") else ""
        typer.echo(f"{change['action']:9} {change['subject']}{detail}")
    typer.echo(f"{result['created']} created, {result['changed']} changed, {result['unchanged']} unchanged"
               + (" (dry run: nothing kept)" if dry_run else ""))


async def _onboard_local(settings: Settings, raw: bytes, source: str, dry_run: bool) -> dict[str, Any]:
    from datetime import timedelta

    from mojahub.kernel.clock import SystemClock
    from mojahub.onboarding.scheme import parse_scheme
    from mojahub.onboarding.service import onboard as apply
    from mojahub.server import migrate as do_migrate
    from mojahub.storage.engine import open_database

    scheme = parse_scheme(raw, source=source)
    await do_migrate(settings)
    db = open_database(settings.database_url)
    try:
        report = await apply(db, scheme, hub_name=settings.hub_name, now=SystemClock().now(),
                             funds_validity=timedelta(seconds=settings.funds_out_validity_s), dry_run=dry_run)
    finally:
        await db.dispose()
    return report.to_json()


async def _onboard_remote(hub: str, raw: bytes, dry_run: bool) -> dict[str, Any]:
    import aiohttp
    import orjson

    from mojahub.kernel.errors import ErrorCode, HubError

    url = hub.rstrip("/") + "/onboard" + ("?dryRun=true" if dry_run else "")
    async with aiohttp.ClientSession() as http, http.post(url, data=raw,
                                                          headers={"Content-Type": "application/yaml"}) as resp:
        body = await resp.read()
        try:
            value: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            value = None
        if resp.status != 200 or not isinstance(value, dict):
            info = value.get("errorInformation", {}) if isinstance(value, dict) else {}
            raise HubError(ErrorCode.CLIENT_ERROR, f"{url} answered {resp.status}: "
                           f"{info.get('errorDescription', body[:200].decode('utf-8', 'replace'))}")
        return value


@app.command()
def sim(
    config: Annotated[str | None, typer.Option(help="simulator config file (YAML/JSON)")] = None,
    fsp_id: Annotated[str | None, typer.Option(help="DFSP id (overrides the config)")] = None,
    hub_url: Annotated[str | None, typer.Option(help="hub FSPIOP base URL, e.g. http://127.0.0.1:3000")] = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="FSPIOP port the hub calls back")] = 3710,
    outbound_port: Annotated[int, typer.Option(help="outbound (SDK-style) API port")] = 3711,
    register: Annotated[bool, typer.Option(help="register the parties with the hub's ALS at start")] = True,
) -> None:
    """Run a simulated DFSP: payee side for the hub, outbound transfer API for you."""
    from pathlib import Path

    from mojahub.sim.config import SimConfig, load_config
    from mojahub.sim.simulator import run_simulator

    overrides = {"fspId": fsp_id, "hubUrl": hub_url}
    if config is not None:
        cfg = load_config(Path(config), **overrides)
    elif fsp_id is not None:
        cfg = SimConfig.model_validate({k: v for k, v in overrides.items() if v is not None})
    else:
        raise typer.BadParameter("give --config or --fsp-id")

    async def main() -> None:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_simulator(cfg, host, port, outbound_port, stop, register=register)

    asyncio.run(main())


@app.command()
def demo(
    database_url: Annotated[str | None, typer.Option(help="MOJAHUB_DATABASE_URL (default: a fresh temp SQLite)")]
    = None,
) -> None:
    """Start a hub and two simulated DFSPs, move money, settle it, print the timeline."""
    from mojahub.demo import demo_settings, run_demo
    from mojahub.logs import configure_logging

    base = Settings()
    # An explicitly configured database (flag or MOJAHUB_DATABASE_URL) is used; otherwise a temp file.
    url = database_url or (base.database_url if "database_url" in base.model_fields_set else None)
    settings = demo_settings(base, url)
    configure_logging("warning")
    result = asyncio.run(run_demo(settings, out=lambda line: typer.echo(line)))
    if result.settlement_state != "SETTLED":
        raise typer.Exit(code=1)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
