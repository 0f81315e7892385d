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
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
