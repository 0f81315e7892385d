"""Participants, accounts, positions, limits, endpoints and the immutable ledger.

Naming follows central-ledger where it helps an operator who knows Mojaloop: an *account* is
central-ledger's ``participantCurrency`` (its id is the ``accounts[].id`` of the Admin API).
Amounts are BigInteger counts of 1/10,000 units (kernel.money).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from mojahub.storage.metadata import UtcDateTime, metadata

participant = Table(
    "participant",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(32), nullable=False, unique=True),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("is_proxy", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(128), nullable=False, default="unknown"),
)

ledger_account_type = Table(
    "ledger_account_type",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(50), nullable=False, unique=True),
    Column("description", String(512), nullable=True),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("is_settleable", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# central-ledger's participantCurrency: one account per (participant, currency, ledger type).
account = Table(
    "account",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("participant_id", Integer, ForeignKey("participant.id"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("ledger_account_type_id", Integer, ForeignKey("ledger_account_type.id"), nullable=False),
    Column("is_active", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(128), nullable=False, default="unknown"),
    UniqueConstraint("participant_id", "currency", "ledger_account_type_id", name="uq_account_owner_type"),
)

# Net debit cap and other limits: a new row per adjustment, the previous one deactivated.
participant_limit = Table(
    "participant_limit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("account.id"), nullable=False),
    Column("limit_type", String(32), nullable=False),
    Column("value", BigInteger, nullable=False),
    Column("alarm_percentage", BigInteger, nullable=False, default=10 * 10_000),  # units of 1/10,000 %
    Column("is_active", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_participant_limit_account", "account_id", "limit_type", "is_active"),
)

# Callback endpoints (URL templates stored exactly as given) and e-mail addresses, one per type.
participant_endpoint = Table(
    "participant_endpoint",
    metadata,
    Column("participant_id", Integer, ForeignKey("participant.id"), primary_key=True),
    Column("endpoint_type", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
)

# Funds in / funds out: internal transfers between a DFSP SETTLEMENT account and the hub's
# HUB_RECONCILIATION account (central-ledger's admin transfers).
funds_transfer = Table(
    "funds_transfer",
    metadata,
    Column("transfer_id", String(64), primary_key=True),
    Column("participant_id", Integer, ForeignKey("participant.id"), nullable=False),
    Column("account_id", Integer, ForeignKey("account.id"), nullable=False),
    Column("hub_account_id", Integer, ForeignKey("account.id"), nullable=False),
    Column("action", String(40), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("state", String(24), nullable=False),
    Column("external_reference", String(256), nullable=True),
    Column("reason", String(512), nullable=True),
    Column("extension_list", JSON, nullable=True),
    Column("request_hash", String(64), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
)

settlement_model = Table(
    "settlement_model",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(50), nullable=False, unique=True),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("settlement_granularity", String(16), nullable=False),
    Column("settlement_interchange", String(16), nullable=False),
    Column("settlement_delay", String(16), nullable=False),
    Column("currency", String(3), nullable=True),
    Column("require_liquidity_check", Boolean, nullable=False, default=True),
    Column("ledger_account_type_id", Integer, ForeignKey("ledger_account_type.id"), nullable=False),
    Column("settlement_account_type_id", Integer, ForeignKey("ledger_account_type.id"), nullable=False),
    Column("auto_position_reset", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
)
