"""The FSPIOP error catalogue (API v1.1 §7.6 plus Mojaloop's additions), in one place.

Every error the hub produces, on any API, is an ``ErrorCode`` with its default description and
the HTTP status used when it is answered synchronously.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

MAX_DESCRIPTION = 128


class ErrorCode(Enum):
    # (code, default description, synchronous HTTP status)
    COMMUNICATION_ERROR = ("1000", "Communication error", 503)
    DESTINATION_COMMUNICATION_ERROR = ("1001", "Destination communication error", 503)
    SERVER_ERROR = ("2000", "Generic server error", 500)
    INTERNAL_SERVER_ERROR = ("2001", "Internal server error", 500)
    NOT_IMPLEMENTED = ("2002", "Not implemented", 501)
    SERVICE_CURRENTLY_UNAVAILABLE = ("2003", "Service currently unavailable", 503)
    SERVER_TIMED_OUT = ("2004", "Server timed out", 500)
    SERVER_BUSY = ("2005", "Server busy", 500)
    PARTY_RESOLUTION_FAILURE = ("2006", "Temporary party resolution failed, try again", 503)
    CLIENT_ERROR = ("3000", "Generic client error", 400)
    METHOD_NOT_ALLOWED = ("3000", "Generic client error", 405)
    UNACCEPTABLE_VERSION = ("3001", "Unacceptable version requested", 406)
    UNKNOWN_URI = ("3002", "Unknown URI", 404)
    ADD_PARTY_INFO_ERROR = ("3003", "Add Party information error", 400)
    DELETE_PARTY_INFO_ERROR = ("3040", "Delete Party information error", 400)
    VALIDATION_ERROR = ("3100", "Generic validation error", 400)
    MALFORMED_SYNTAX = ("3101", "Malformed syntax", 400)
    MISSING_ELEMENT = ("3102", "Missing mandatory element", 400)
    TOO_MANY_ELEMENTS = ("3103", "Too many elements", 400)
    TOO_LARGE_PAYLOAD = ("3104", "Too large payload", 400)
    INVALID_SIGNATURE = ("3105", "Invalid signature", 400)
    MODIFIED_REQUEST = ("3106", "Modified request", 400)
    MISSING_MANDATORY_EXTENSION = ("3107", "Missing mandatory extension parameter", 400)
    ID_NOT_FOUND = ("3200", "Generic ID not found", 400)
    DESTINATION_FSP_ERROR = ("3201", "Destination FSP Error", 400)
    PAYER_FSP_ID_NOT_FOUND = ("3202", "Payer FSP ID not found", 400)
    PAYEE_FSP_ID_NOT_FOUND = ("3203", "Payee FSP ID not found", 400)
    PARTY_NOT_FOUND = ("3204", "Party not found", 400)
    QUOTE_ID_NOT_FOUND = ("3205", "Quote ID not found", 400)
    TXN_REQUEST_ID_NOT_FOUND = ("3206", "Transaction request ID not found", 400)
    TXN_ID_NOT_FOUND = ("3207", "Transaction ID not found", 400)
    TRANSFER_ID_NOT_FOUND = ("3208", "Transfer ID not found", 400)
    BULK_QUOTE_ID_NOT_FOUND = ("3209", "Bulk quote ID not found", 400)
    BULK_TRANSFER_ID_NOT_FOUND = ("3210", "Bulk transfer ID not found", 400)
    EXPIRED_ERROR = ("3300", "Generic expired error", 400)
    TXN_REQUEST_EXPIRED = ("3301", "Transaction request expired", 400)
    QUOTE_EXPIRED = ("3302", "Quote expired", 400)
    TRANSFER_EXPIRED = ("3303", "Transfer expired", 400)
    PAYER_ERROR = ("4000", "Generic Payer error", 400)
    PAYER_FSP_INSUFFICIENT_LIQUIDITY = ("4001", "Payer FSP insufficient liquidity", 400)
    PAYER_REJECTION = ("4100", "Generic Payer rejection", 400)
    PAYER_REJECTED_TXN_REQUEST = ("4101", "Payer rejected transaction request", 400)
    PAYER_FSP_UNSUPPORTED_TXN_TYPE = ("4102", "Payer FSP unsupported transaction type", 400)
    PAYER_UNSUPPORTED_CURRENCY = ("4103", "Payer unsupported currency", 400)
    PAYER_LIMIT_ERROR = ("4200", "Payer limit error", 400)
    PAYER_PERMISSION_ERROR = ("4300", "Payer permission error", 400)
    PAYER_BLOCKED_ERROR = ("4400", "Generic Payer blocked error", 400)
    PAYEE_ERROR = ("5000", "Generic Payee error", 400)
    PAYEE_FSP_INSUFFICIENT_LIQUIDITY = ("5001", "Payee FSP insufficient liquidity", 400)
    PAYEE_REJECTION = ("5100", "Generic Payee rejection", 400)
    PAYEE_REJECTED_QUOTE = ("5101", "Payee rejected quote", 400)
    PAYEE_FSP_UNSUPPORTED_TXN_TYPE = ("5102", "Payee FSP unsupported transaction type", 400)
    PAYEE_FSP_REJECTED_QUOTE = ("5103", "Payee FSP rejected quote", 400)
    PAYEE_REJECTED_TXN = ("5104", "Payee rejected transaction", 400)
    PAYEE_FSP_REJECTED_TXN = ("5105", "Payee FSP rejected transaction", 400)
    PAYEE_UNSUPPORTED_CURRENCY = ("5106", "Payee unsupported currency", 400)
    PAYEE_IDENTIFIER_NOT_VALID = ("5107", "Payee identifier no-longer valid", 400)
    PAYEE_LIMIT_ERROR = ("5200", "Payee limit error", 400)
    PAYEE_PERMISSION_ERROR = ("5300", "Payee permission error", 400)
    GENERIC_PAYEE_BLOCKED_ERROR = ("5400", "Generic Payee blocked error", 400)
    GENERIC_SETTLEMENT_ERROR = ("6000", "Generic Settlement Error", 400)
    TP_ERROR = ("7000", "Generic Thirdparty error", 400)
    TP_TRANSACTION_ERROR = ("7100", "Generic Thirdparty transaction error", 400)
    TP_FSP_TRANSACTION_REQUEST_NOT_VALID = ("7101", "Transaction request failed DFSP validation", 400)
    TP_FSP_TRANSACTION_UPDATE_FAILED = ("7102", "Transaction request PUT update send to PISP failed", 400)
    TP_FSP_TRANSACTION_REQUEST_QUOTE_FAILED = (
        "7103", "Transaction request quote send to payee DFSP failed", 400)
    TP_FSP_TRANSACTION_REQUEST_AUTHORIZATION_FAILED = (
        "7104", "Transaction request for user authorization send to PISP failed", 400)
    TP_FSP_TRANSACTION_AUTHORIZATION_NOT_VALID = (
        "7105", "Authorization received from PISP failed DFSP validation", 400)
    TP_FSP_TRANSACTION_AUTHORIZATION_REJECTED_BY_USER = (
        "7106", "DFSP received reject by user authorization, so transaction cancelled", 400)
    TP_FSP_TRANSACTION_AUTHORIZATION_UNEXPECTED = (
        "7107", "DFSP received unexpected authorization responseType", 400)
    TP_FSP_TRANSACTION_TRANSFER_FAILED = ("7108", "Transaction request transfer failed", 400)
    TP_FSP_TRANSACTION_NOTIFICATION_FAILED = ("7109", "Transaction request notification failed", 400)
    TP_ACCOUNT_LINKING_ERROR = ("7200", "Generic Thirdparty account linking error", 400)
    TP_NO_SERVICE_PROVIDERS_FOUND = ("7201", "No thirdparty enabled FSP found", 400)
    TP_NO_ACCOUNTS_FOUND = ("7202", "No accounts found for generic ID", 400)
    TP_NO_SUPPORTED_AUTH_CHANNELS = ("7203", "FSP does not support any requested authentication channels", 400)
    TP_NO_SUPPORTED_SCOPE_ACTIONS = ("7204", "FSP does not support any requested scope actions", 400)
    TP_OTP_VALIDATION_ERROR = ("7205", "OTP failed validation", 400)
    TP_FSP_OTP_VALIDATION_ERROR = ("7206", "FSP failed to validate OTP", 400)
    TP_FSP_CONSENT_SCOPES_ERROR = ("7207", "FSP failed retrieve scopes for consent request", 400)
    TP_CONSENT_REQ_VALIDATION_ERROR = ("7208", "FSP failed to validate consent request", 400)
    TP_FSP_CONSENT_REQ_NO_SCOPES = ("7209", "FSP does not find scopes suitable", 400)
    TP_NO_TRUSTED_CALLBACK_URI = ("7210", "FSP does not trust PISP callback URI", 400)
    TP_CONSENT_REQ_USER_NOT_ALLOWED = ("7211", "FSP does not allow consent requests for specified username", 400)
    TP_SIGNED_CHALLENGE_MISMATCH = ("7212", "Signed challenge does not match derived challenge", 400)
    TP_CONSENT_INVALID = ("7213", "Consent is invalid", 400)
    TP_FAILED_REG_ACCOUNT_LINKS = ("7214", "Failed to register account links with oracle", 400)
    TP_AUTH_SERVICE_ERROR = ("7300", "Generic Thirdparty auth service error", 400)

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def description(self) -> str:
        return self.value[1]

    @property
    def http_status(self) -> int:
        return self.value[2]


_BY_CODE: dict[str, ErrorCode] = {}
for _member in ErrorCode:
    _BY_CODE.setdefault(_member.code, _member)

ERROR_CODE_RE = re.compile(r"^[1-9]\d{3}$")


def lookup(code: str) -> ErrorCode | None:
    """The catalogue entry for an exact code, or None for a code the spec does not define."""
    return _BY_CODE.get(code)


def is_defined(code: str) -> bool:
    """A code is defined if it is in the catalogue or is a scheme code (xx40-xx99) of a known
    category (spec §7.6: unknown scheme codes read as the category's generic xx00)."""
    if code in _BY_CODE:
        return True
    if not ERROR_CODE_RE.match(code):
        return False
    return int(code[2:]) >= 40 and (code[:2] + "00") in _BY_CODE


def describe(code: ErrorCode, detail: str | None = None) -> str:
    text = code.description if not detail else f"{code.description} - {detail}"
    return text[:MAX_DESCRIPTION]


class HubError(Exception):
    """An expected failure, carrying its catalogue code and an optional detail."""

    def __init__(
        self,
        code: ErrorCode,
        detail: str | None = None,
        *,
        extensions: list[tuple[str, str]] | None = None,
        http_status: int | None = None,
    ) -> None:
        self.code = code
        self.detail = detail
        self.extensions = extensions or []
        self.http_status = http_status or code.http_status
        super().__init__(self.description)

    @property
    def description(self) -> str:
        return describe(self.code, self.detail)

    def to_body(self) -> dict[str, Any]:
        return error_body(self.code.code, self.description, self.extensions)


def error_body(code: str, description: str, extensions: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {"errorCode": code, "errorDescription": description[:MAX_DESCRIPTION]}
    if extensions:
        info["extensionList"] = {
            "extension": [{"key": k[:32], "value": v[:128]} for k, v in extensions[:16]]
        }
    return {"errorInformation": info}
