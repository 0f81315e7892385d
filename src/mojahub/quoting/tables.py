"""Quotes as the hub saw them: the request, the payee's answer (or error) and what was forwarded,
so a resent request can be answered again without asking the payee (reference fspiop.md §1).
Amounts are BigInteger hub units (kernel.money) with their currency.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, String, Table, Text

from mojahub.storage.metadata import UtcDateTime, metadata

quote = Table(
    "quote",
    metadata,
    Column("quote_id", String(64), primary_key=True),
    Column("transaction_id", String(64), nullable=False),
    Column("transaction_request_id", String(64), nullable=True),
    Column("payer_fsp", String(32), nullable=False),
    Column("payee_fsp", String(32), nullable=False),
    Column("amount_type", String(8), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("fees", BigInteger, nullable=True),
    Column("fees_currency", String(3), nullable=True),
    Column("scenario", String(16), nullable=False),
    Column("initiator", String(8), nullable=False),
    Column("initiator_type", String(16), nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("state", String(16), nullable=False),
    Column("request_hash", String(64), nullable=False),
    # The payee's answer (PUT /quotes/{ID}).
    Column("transfer_amount", BigInteger, nullable=True),
    Column("transfer_currency", String(3), nullable=True),
    Column("payee_receive_amount", BigInteger, nullable=True),
    Column("payee_receive_currency", String(3), nullable=True),
    Column("payee_fsp_fee", BigInteger, nullable=True),
    Column("payee_fsp_fee_currency", String(3), nullable=True),
    Column("payee_fsp_commission", BigInteger, nullable=True),
    Column("payee_fsp_commission_currency", String(3), nullable=True),
    Column("answer_expires_at", UtcDateTime, nullable=True),
    Column("ilp_packet", Text, nullable=True),
    Column("condition", String(48), nullable=True),
    Column("error_code", String(4), nullable=True),
    Column("error_description", String(128), nullable=True),
    Column("answer_hash", String(64), nullable=True),
    # The forwarded answer exactly as sent to the payer, to send it again on a resent request.
    Column("answer_path", String(256), nullable=True),
    Column("answer_headers", JSON, nullable=True),
    Column("answer_body", LargeBinary, nullable=True),
    Column("answered_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    Index("ix_quote_transaction", "transaction_id"),
)
