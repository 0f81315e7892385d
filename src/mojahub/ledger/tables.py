"""Positions (one row per account, the row locked by every change) and ledger entries
(immutable, one per change, tied to the transfer that caused it)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table

from mojahub.storage.metadata import BigIntPK, UtcDateTime, metadata

# The balance of an account: the row locked by every position change (one row per account).
# value: positive = the DFSP owes the scheme (net debit); settlement accounts go negative on funds in.
position = Table(
    "position",
    metadata,
    Column("account_id", Integer, ForeignKey("account.id"), primary_key=True),
    Column("value", BigInteger, nullable=False, default=0),
    Column("reserved_value", BigInteger, nullable=False, default=0),
    Column("changed_at", UtcDateTime, nullable=False),
)

# Every change of a position: immutable, tied to the transfer (or funds/settlement transfer) that
# caused it. Positions can be rebuilt from these rows: value = sum(change) per account.
ledger_entry = Table(
    "ledger_entry",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("account.id"), nullable=False),
    Column("transfer_id", String(64), nullable=False),
    Column("entry_type", String(32), nullable=False),
    Column("change", BigInteger, nullable=False),
    Column("value_after", BigInteger, nullable=False),
    Column("reserved_after", BigInteger, nullable=False, default=0),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_ledger_entry_account", "account_id", "id"),
    Index("ix_ledger_entry_transfer", "transfer_id"),
)
