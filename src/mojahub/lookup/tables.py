"""ALS tables: the oracles registered through the ALS admin API, and the hub's built-in oracle
(which FSP owns a party identifier), the default for every party id type.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text, UniqueConstraint

from mojahub.storage.metadata import BigIntPK, UtcDateTime, metadata

als_oracle = Table(
    "als_oracle",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("party_id_type", String(32), nullable=False),
    Column("endpoint_value", Text, nullable=False),
    Column("endpoint_type", String(16), nullable=False),
    Column("currency", String(3), nullable=True),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    Index("ix_als_oracle_type", "party_id_type", "is_active"),
)

# The built-in oracle. ``party_sub_id`` is '' when the party has none, so the unique key works on
# both backends (NULLs never collide in a unique constraint).
als_party = Table(
    "als_party",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("party_id_type", String(32), nullable=False),
    Column("party_identifier", String(128), nullable=False),
    Column("party_sub_id", String(128), nullable=False, default=""),
    Column("fsp_id", String(32), nullable=False),
    Column("currency", String(3), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    UniqueConstraint("party_id_type", "party_identifier", "party_sub_id"),
)
