"""Imports every context's tables so ``metadata`` holds the whole schema (migrations, tests)."""

from __future__ import annotations

import mojahub.ledger.tables
import mojahub.lookup.tables
import mojahub.participants.tables
import mojahub.quoting.tables
import mojahub.settlement.tables
import mojahub.storage.outbox
import mojahub.transfers.tables  # noqa: F401
from mojahub.storage.metadata import metadata

__all__ = ["metadata"]
