"""Settlement windows, the per-window clearing aggregate, window content, settlements.

``window_flow`` is maintained at commit time (one upsert per payer/payee account pair per commit
batch), so closing a window and netting a settlement read O(account pairs), not O(transfers).
``settlement_open_window`` is a one-row pointer to the OPEN window: commits hold it with
``FOR KEY SHARE`` and a close takes it ``FOR UPDATE``, so a close waits for the commits in flight
and the commits that follow see the new window (the row always matches its WHERE, so PostgreSQL's
re-check after the lock wait returns the new pointer instead of nothing).
"""

from __future__ import annotations

from sqlalchemy import (
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

settlement_window = Table(
    "settlement_window",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", String(24), nullable=False),
    Column("reason", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    Index("ix_settlement_window_state", "state"),
)

window_flow = Table(
    "window_flow",
    metadata,
    Column("window_id", Integer, ForeignKey("settlement_window.id"), primary_key=True),
    Column("payer_account_id", Integer, ForeignKey("account.id"), primary_key=True),
    Column("payee_account_id", Integer, ForeignKey("account.id"), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("transfer_count", Integer, nullable=False),
)

settlement_open_window = Table(
    "settlement_open_window",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("window_id", Integer, ForeignKey("settlement_window.id"), nullable=False),
)

# central-settlement's settlementWindowContent: one row per (ledger account type, currency) that
# had activity in a closed window and has a NET settlement model.
settlement_window_content = Table(
    "settlement_window_content",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("window_id", Integer, ForeignKey("settlement_window.id"), nullable=False),
    Column("ledger_account_type", String(50), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("settlement_model_id", Integer, nullable=False),
    Column("state", String(24), nullable=False),
    Column("settlement_id", Integer, ForeignKey("settlement.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    Index("ix_settlement_window_content_window", "window_id"),
    Index("ix_settlement_window_content_settlement", "settlement_id"),
)

# A settlement over one or more closed windows for one model (model facts copied at creation, so
# a later edit of the model cannot change how a running settlement resets positions).
settlement = Table(
    "settlement",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("settlement_model_id", Integer, nullable=False),
    Column("settlement_model", String(50), nullable=False),
    Column("ledger_account_type", String(50), nullable=False),
    Column("currency", String(3), nullable=True),
    Column("auto_position_reset", Boolean, nullable=False),
    Column("require_liquidity_check", Boolean, nullable=False),
    Column("state", String(24), nullable=False),
    Column("reason", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    Index("ix_settlement_state", "state"),
)

settlement_settlement_window = Table(
    "settlement_settlement_window",
    metadata,
    Column("settlement_id", Integer, ForeignKey("settlement.id"), primary_key=True),
    Column("window_id", Integer, ForeignKey("settlement_window.id"), primary_key=True),
    Index("ix_settlement_settlement_window_window", "window_id"),
)

# central-settlement's settlementParticipantCurrency: each DFSP account's net in a settlement.
settlement_account = Table(
    "settlement_account",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("settlement_id", Integer, ForeignKey("settlement.id"), nullable=False),
    Column("account_id", Integer, ForeignKey("account.id"), nullable=False),
    Column("participant_id", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("net_amount", BigInteger, nullable=False),
    Column("state", String(24), nullable=False),
    Column("reason", Text, nullable=True),
    Column("external_reference", String(256), nullable=True),
    Column("settlement_transfer_id", String(64), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    UniqueConstraint("settlement_id", "account_id"),
    Index("ix_settlement_account_account", "account_id"),
)
