"""Transfers: the transfer row (current state, duplicate-check hashes, fulfilment, last error),
its ILP packet (kept apart so the hot row stays narrow) and the append-only state history.

Amounts are BigInteger counts of 1/10,000 units (kernel.money). Account ids are the POSITION
accounts of payer and payee (None when the prepare failed validation before they were known).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, text

from mojahub.storage.metadata import BigIntPK, UtcDateTime, metadata

transfer = Table(
    "transfer",
    metadata,
    Column("transfer_id", String(64), primary_key=True),
    Column("payer_fsp", String(32), nullable=False),
    Column("payee_fsp", String(32), nullable=False),
    Column("payer_account_id", Integer, nullable=True),
    Column("payee_account_id", Integer, nullable=True),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("condition", String(48), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("state", String(24), nullable=False),
    # Duplicate checks (central-ledger transferDuplicateCheck / FulfilmentDuplicateCheck / ErrorDuplicateCheck).
    Column("prepare_hash", String(64), nullable=False),
    Column("fulfil_hash", String(64), nullable=True),
    Column("error_hash", String(64), nullable=True),
    Column("fulfilment", String(48), nullable=True),
    Column("completed_at", UtcDateTime, nullable=True),
    # The error that aborted the transfer (GET's `cause` extension).
    Column("error_code", String(4), nullable=True),
    Column("error_description", String(128), nullable=True),
    Column("settlement_window_id", Integer, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    # The expiry sweeper's index: only reservations (partial, see storage/outbox.py's indexes).
    Index("ix_transfer_reserved_expires", "expires_at", postgresql_where=text("state = 'RESERVED'"),
          sqlite_where=text("state = 'RESERVED'")),
)

transfer_ilp_packet = Table(
    "transfer_ilp_packet",
    metadata,
    Column("transfer_id", String(64), primary_key=True),
    Column("ilp_packet", Text, nullable=False),
)

transfer_state_change = Table(
    "transfer_state_change",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("transfer_id", String(64), nullable=False),
    Column("state", String(24), nullable=False),
    Column("reason", String(256), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_transfer_state_change_transfer", "transfer_id"),
)
