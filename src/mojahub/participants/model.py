"""Pure participants rules: the scheme's enumerations, settlement-model combinations, funds
movements as postings. No I/O, no clock (house rule 1)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.ledger.model import RECORD_FUNDS_IN, RECORD_FUNDS_OUT, Posting

# Ledger account types (central-ledger seeds/ledgerAccountType).
POSITION = "POSITION"
SETTLEMENT = "SETTLEMENT"
HUB_RECONCILIATION = "HUB_RECONCILIATION"
HUB_MULTILATERAL_SETTLEMENT = "HUB_MULTILATERAL_SETTLEMENT"
HUB_FEE = "HUB_FEE"
INTERCHANGE_FEE = "INTERCHANGE_FEE"
INTERCHANGE_FEE_SETTLEMENT = "INTERCHANGE_FEE_SETTLEMENT"

# central-ledger HUB_PARTICIPANT.ACCOUNTS: the only types POST /participants/Hub/accounts may create.
HUB_ACCOUNT_TYPES: tuple[str, ...] = (HUB_RECONCILIATION, HUB_MULTILATERAL_SETTLEMENT, HUB_FEE)
# Both must exist in a currency before a DFSP can join in it.
REQUIRED_HUB_ACCOUNT_TYPES: tuple[str, ...] = (HUB_RECONCILIATION, HUB_MULTILATERAL_SETTLEMENT)
SETTLEMENT_ACCOUNT_TYPES: tuple[str, ...] = (SETTLEMENT, INTERCHANGE_FEE_SETTLEMENT)

NET_DEBIT_CAP = "NET_DEBIT_CAP"
LIMIT_TYPES: tuple[str, ...] = (NET_DEBIT_CAP,)
DEFAULT_ALARM_PERCENTAGE_UNITS = 10 * 10_000  # 10 %, in 1/10,000 units like money

# Endpoint types (central-ledger seeds/endpointType, plus the 3PPI TP_CB_URL_* types).
FSPIOP_ENDPOINT_TYPES: tuple[str, ...] = (
    "FSPIOP_CALLBACK_URL_TRANSFER_POST", "FSPIOP_CALLBACK_URL_TRANSFER_PUT", "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
    "FSPIOP_CALLBACK_URL_FX_QUOTES", "FSPIOP_CALLBACK_URL_FX_TRANSFER_POST", "FSPIOP_CALLBACK_URL_FX_TRANSFER_PUT",
    "FSPIOP_CALLBACK_URL_FX_TRANSFER_ERROR",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT", "FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_PUT",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT_ERROR", "FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_PUT_ERROR",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_DELETE", "FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_DELETE",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT", "FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT_ERROR",
    "FSPIOP_CALLBACK_URL_PARTIES_GET", "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_GET",
    "FSPIOP_CALLBACK_URL_PARTIES_PUT", "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT",
    "FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR", "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT_ERROR",
    "FSPIOP_CALLBACK_URL_QUOTES", "FSPIOP_CALLBACK_URL_BULK_QUOTES",
    "FSPIOP_CALLBACK_URL_BULK_TRANSFER_POST", "FSPIOP_CALLBACK_URL_BULK_TRANSFER_PUT",
    "FSPIOP_CALLBACK_URL_BULK_TRANSFER_ERROR",
    "FSPIOP_CALLBACK_URL_AUTHORIZATIONS", "FSPIOP_CALLBACK_URL_TRX_REQ_SERVICE",
)
NOTIFICATION_ENDPOINT_TYPES: tuple[str, ...] = (
    "ALARM_NOTIFICATION_URL", "ALARM_NOTIFICATION_TOPIC",
    "NET_DEBIT_CAP_THRESHOLD_BREACH_EMAIL", "NET_DEBIT_CAP_ADJUSTMENT_EMAIL",
    "SETTLEMENT_TRANSFER_POSITION_CHANGE_EMAIL",
)
THIRDPARTY_ENDPOINT_TYPES: tuple[str, ...] = (
    "TP_CB_URL_TRANSACTION_REQUEST_POST", "TP_CB_URL_TRANSACTION_REQUEST_GET", "TP_CB_URL_TRANSACTION_REQUEST_PUT",
    "TP_CB_URL_TRANSACTION_REQUEST_PATCH", "TP_CB_URL_TRANSACTION_REQUEST_PUT_ERROR",
    "TP_CB_URL_TRANSACTION_REQUEST_AUTH_POST", "TP_CB_URL_TRANSACTION_REQUEST_AUTH_PUT",
    "TP_CB_URL_TRANSACTION_REQUEST_AUTH_PUT_ERROR",
    "TP_CB_URL_TRANSACTION_REQUEST_VERIFY_POST", "TP_CB_URL_TRANSACTION_REQUEST_VERIFY_PUT",
    "TP_CB_URL_TRANSACTION_REQUEST_VERIFY_PUT_ERROR",
    "TP_CB_URL_CONSENT_REQUEST_POST", "TP_CB_URL_CONSENT_REQUEST_PUT", "TP_CB_URL_CONSENT_REQUEST_PATCH",
    "TP_CB_URL_CONSENT_REQUEST_PUT_ERROR", "TP_CB_URL_CREATE_CREDENTIAL_POST",
    "TP_CB_URL_CONSENT_POST", "TP_CB_URL_CONSENT_GET", "TP_CB_URL_CONSENT_PUT", "TP_CB_URL_CONSENT_PATCH",
    "TP_CB_URL_CONSENT_PUT_ERROR", "TP_CB_URL_CONSENT_GENERATE_CHALLENGE_POST",
    "TP_CB_URL_CONSENT_GENERATE_CHALLENGE_PUT_ERROR",
    "TP_CB_URL_ACCOUNTS_GET", "TP_CB_URL_ACCOUNTS_PUT", "TP_CB_URL_ACCOUNTS_PUT_ERROR",
    "TP_CB_URL_SERVICES_GET", "TP_CB_URL_SERVICES_PUT", "TP_CB_URL_SERVICES_PUT_ERROR",
)
ENDPOINT_TYPES: tuple[str, ...] = FSPIOP_ENDPOINT_TYPES + NOTIFICATION_ENDPOINT_TYPES + THIRDPARTY_ENDPOINT_TYPES

# Settlement models (central-ledger settlementGranularity / Interchange / Delay enumerations).
GROSS, NET = "GROSS", "NET"
BILATERAL, MULTILATERAL = "BILATERAL", "MULTILATERAL"
IMMEDIATE, DEFERRED = "IMMEDIATE", "DEFERRED"
SETTLEMENT_GRANULARITIES: tuple[str, ...] = (GROSS, NET)
SETTLEMENT_INTERCHANGES: tuple[str, ...] = (BILATERAL, MULTILATERAL)
SETTLEMENT_DELAYS: tuple[str, ...] = (IMMEDIATE, DEFERRED)
# (delay, granularity, interchange): the only combinations central-ledger accepts.
ALLOWED_SETTLEMENT_COMBINATIONS: frozenset[tuple[str, str, str]] = frozenset({
    (IMMEDIATE, GROSS, BILATERAL),
    (DEFERRED, GROSS, BILATERAL),
    (DEFERRED, NET, BILATERAL),
    (DEFERRED, NET, MULTILATERAL),
})

# Funds movements (admin transfers between a DFSP SETTLEMENT account and HUB_RECONCILIATION).
RECORD_FUNDS_IN_ACTION = "recordFundsIn"
RECORD_FUNDS_OUT_PREPARE_RESERVE = "recordFundsOutPrepareReserve"
RECORD_FUNDS_OUT_COMMIT = "recordFundsOutCommit"
RECORD_FUNDS_OUT_ABORT = "recordFundsOutAbort"
FUNDS_ACTIONS: tuple[str, ...] = (RECORD_FUNDS_IN_ACTION, RECORD_FUNDS_OUT_PREPARE_RESERVE)
FUNDS_OUT_RESOLUTIONS: tuple[str, ...] = (RECORD_FUNDS_OUT_COMMIT, RECORD_FUNDS_OUT_ABORT)

# funds_transfer.state
RESERVED = "RESERVED"
COMMITTED = "COMMITTED"
ABORTED = "ABORTED"
EXPIRED = "EXPIRED"


def check_settlement_combination(delay: str, granularity: str, interchange: str) -> None:
    """Raise 3000 unless the combination is one central-ledger allows."""
    if (delay, granularity, interchange) in ALLOWED_SETTLEMENT_COMBINATIONS:
        return
    reasons: list[str] = []
    if delay == IMMEDIATE and granularity == NET:
        reasons.append("IMMEDIATE settlement cannot be NET")
    if granularity == GROSS and interchange == MULTILATERAL:
        reasons.append("GROSS settlement cannot be MULTILATERAL")
    if not reasons:
        reasons.append(f"{delay}/{granularity}/{interchange} is not an allowed combination")
    raise HubError(ErrorCode.CLIENT_ERROR, "Invalid settlement model definition: " + "; ".join(reasons))


@dataclass(frozen=True, slots=True)
class FundsCommand:
    """A validated ``POST /participants/{name}/accounts/{id}`` funds movement."""

    transfer_id: str
    action: str
    amount: int
    currency: str
    external_reference: str
    reason: str
    extension_list: Mapping[str, Any] | None = None

    def request_hash(self, account_id: int) -> str:
        """Hash of the meaning of the request (amount in units, so ``"5000"`` and ``5000`` agree)."""
        canonical = json.dumps(
            {
                "account": account_id, "action": self.action, "amount": self.amount, "currency": self.currency,
                "externalReference": self.external_reference, "reason": self.reason,
                "extensionList": self.extension_list,
            },
            sort_keys=True, separators=(",", ":"), default=str,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def funds_in_postings(transfer_id: str, *, settlement_account_id: int, reconciliation_account_id: int,
                      amount: int) -> list[Posting]:
    """Funds in: the DFSP's SETTLEMENT account −amount (more cover), HUB_RECONCILIATION +amount."""
    assert amount > 0
    return [
        Posting(settlement_account_id, -amount, RECORD_FUNDS_IN, transfer_id),
        Posting(reconciliation_account_id, amount, RECORD_FUNDS_IN, transfer_id),
    ]


def funds_out_reserve_posting(transfer_id: str, *, settlement_account_id: int, settlement_value: int,
                              amount: int) -> Posting:
    """Funds out reserve: SETTLEMENT +amount, never beyond the cover (the value may not turn positive)."""
    assert amount > 0
    if settlement_value + amount > 0:
        available = max(0, -settlement_value)
        raise HubError(
            ErrorCode.PAYER_FSP_INSUFFICIENT_LIQUIDITY,
            f"funds out of {amount} units exceeds the available settlement balance of {available} units",
        )
    return Posting(settlement_account_id, amount, RECORD_FUNDS_OUT, transfer_id)


def funds_out_commit_posting(transfer_id: str, *, reconciliation_account_id: int, amount: int) -> Posting:
    """Funds out commit: HUB_RECONCILIATION −amount (the money has left the scheme)."""
    return Posting(reconciliation_account_id, -amount, RECORD_FUNDS_OUT, transfer_id)


def funds_out_release_posting(transfer_id: str, *, settlement_account_id: int, amount: int) -> Posting:
    """Funds out abort (or expiry): SETTLEMENT −amount, reversing the reservation."""
    return Posting(settlement_account_id, -amount, RECORD_FUNDS_OUT, transfer_id)


def is_expired(expires_at: datetime, now: datetime) -> bool:
    return now >= expires_at
