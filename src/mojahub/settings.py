"""The only place the environment is read: ``MOJAHUB_`` variables (``__`` for nesting)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOJAHUB_", env_nested_delimiter="__", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./mojahub.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///file.db or postgresql+asyncpg://...",
    )
    host: str = "127.0.0.1"
    fspiop_port: int = 3000
    admin_port: int = 3001
    workers: int = Field(default=1, ge=1, le=64)
    hub_name: str = "Hub"
    public_url: str = Field(default="http://central-ledger", description="base of participant links")
    log_level: str = "info"

    # Database
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_statement_timeout_ms: int = Field(default=30_000, ge=100)

    # FSPIOP edge
    max_body_bytes: int = Field(default=5_242_880, ge=1024)
    supported_versions: tuple[str, ...] = ("1.0", "1.1", "2.0")

    # Callback delivery (outbox dispatcher)
    callback_timeout_s: float = Field(default=10.0, gt=0)
    callback_connect_timeout_s: float = Field(default=3.0, gt=0)
    callback_attempts_max: int = Field(default=5, ge=1)
    callback_backoff_base_s: float = Field(default=0.5, gt=0)
    callback_backoff_max_s: float = Field(default=30.0, gt=0)
    callback_batch_size: int = Field(default=200, ge=1)
    callback_lease_s: float = Field(default=60.0, gt=0)
    callback_poll_interval_s: float = Field(default=0.05, gt=0)
    callback_idle_poll_max_s: float = Field(
        default=1.0, gt=0, description="empty outbox claims back off from callback_poll_interval_s up to this"
    )
    callback_listen: bool = Field(default=True, description="PostgreSQL: wake other processes with LISTEN/NOTIFY")
    callback_concurrency: int = Field(default=200, ge=1)
    callback_per_host_connections: int = Field(default=64, ge=1)
    callback_dispatch_enabled: bool = Field(default=True, description="run the outbox dispatcher in this process")
    callback_endpoint_cache_s: float = Field(default=2.0, ge=0, description="endpoint template cache TTL")
    callback_record_delay_ms: float = Field(
        default=5.0, ge=0, le=1000,
        description="gather finished attempts this long before recording them (fewer transactions under load)",
    )
    callback_backlog_interval_s: float = Field(default=5.0, gt=0, description="outbox backlog gauge refresh")
    callback_retention_s: float | None = Field(
        default=604_800.0, gt=0, description="delete DELIVERED outbox messages older than this (None: keep)"
    )

    vacuum_interval_s: float | None = Field(
        default=10.0, gt=0, description="PostgreSQL: VACUUM the queue tables this often (None: autovacuum only)"
    )

    # Transfers
    expiry_sweep_interval_s: float = Field(default=0.5, gt=0)
    expiry_grace_ms: int = Field(
        default=1000, ge=0, le=10_000, description="abort a reservation this long after its expiration"
    )
    expiry_batch_size: int = Field(default=500, ge=1)
    fulfil_max_age_s: float = Field(default=300.0, gt=0)
    fulfil_future_tolerance_ms: int = Field(default=200, ge=0)
    position_batch_window_ms: float = Field(default=2.0, ge=0)
    position_batch_max: int = Field(default=500, ge=1)
    position_batch_in_flight: int = Field(
        default=2, ge=1, le=16, description="position batches committing at once per process (PostgreSQL)"
    )
    enable_on_us_transfers: bool = False
    send_transfer_confirmation_to_payee: bool = True
    funds_out_validity_s: int = Field(default=432_000, ge=1)
    funds_out_sweep_interval_s: float = Field(default=60.0, gt=0, description="release expired funds-out reservations")
    funds_out_sweep_batch: int = Field(default=100, ge=1)

    # Settlement
    settlement_window_auto_close_s: float | None = Field(
        default=None, description="close the open settlement window every N seconds (None: manual)"
    )

    # Lookup
    oracle_timeout_s: float = Field(default=5.0, gt=0)
    oracle_cache_ttl_s: float = Field(default=0.0, ge=0)

    # Operator API
    page_size_max: int = Field(default=1000, ge=1)
    participant_cache_ttl_s: float = Field(
        default=1.0, ge=0, description="FSPIOP edge cache of participant existence/activity (0: no cache)"
    )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
