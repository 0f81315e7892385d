"""Participant callback endpoints: the endpoint types, URL template rendering, and the table that
says where an error goes when a message cannot be delivered.

Reference: fspiop.md §9 (central-ledger ``endpointType`` seeds, Mustache ``{{key}}`` templates) and
thirdparty.md §5 (``TP_CB_URL_*`` are base URLs; the switch appends the FSPIOP path).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

P = "FSPIOP_CALLBACK_URL_"

# Endpoint types registered as a bare base URL: the dispatcher appends the message's FSPIOP path
# (``/quotes/{ID}``, ``/transactionRequests/{ID}/error``, ...).
BASE_URL_TYPES: frozenset[str] = frozenset(
    {
        P + "QUOTES",
        P + "BULK_QUOTES",
        P + "TRX_REQ_SERVICE",
        P + "AUTHORIZATIONS",
        P + "FX_QUOTES",
    }
)


def is_base_url_type(endpoint_type: str) -> bool:
    """Base-URL types: the FSPIOP ones above and every third-party ``TP_CB_URL_*`` type."""
    return endpoint_type in BASE_URL_TYPES or endpoint_type.startswith("TP_CB_URL_")


# Where the error callback goes when a message of the key type cannot be delivered: the error
# endpoint type of the same resource at the message's origin. Base-URL types map to themselves
# (the path carries ``/error``). One table, read by ``error_endpoint_type``.
ERROR_ENDPOINT: dict[str, str] = {
    # ALS: participants
    P + "PARTICIPANT_PUT": P + "PARTICIPANT_PUT_ERROR",
    P + "PARTICIPANT_PUT_ERROR": P + "PARTICIPANT_PUT_ERROR",
    P + "PARTICIPANT_DELETE": P + "PARTICIPANT_PUT_ERROR",
    P + "PARTICIPANT_SUB_ID_PUT": P + "PARTICIPANT_SUB_ID_PUT_ERROR",
    P + "PARTICIPANT_SUB_ID_PUT_ERROR": P + "PARTICIPANT_SUB_ID_PUT_ERROR",
    P + "PARTICIPANT_SUB_ID_DELETE": P + "PARTICIPANT_SUB_ID_PUT_ERROR",
    P + "PARTICIPANT_BATCH_PUT": P + "PARTICIPANT_BATCH_PUT_ERROR",
    P + "PARTICIPANT_BATCH_PUT_ERROR": P + "PARTICIPANT_BATCH_PUT_ERROR",
    # ALS: parties
    P + "PARTIES_GET": P + "PARTIES_PUT_ERROR",
    P + "PARTIES_PUT": P + "PARTIES_PUT_ERROR",
    P + "PARTIES_PUT_ERROR": P + "PARTIES_PUT_ERROR",
    P + "PARTIES_SUB_ID_GET": P + "PARTIES_SUB_ID_PUT_ERROR",
    P + "PARTIES_SUB_ID_PUT": P + "PARTIES_SUB_ID_PUT_ERROR",
    P + "PARTIES_SUB_ID_PUT_ERROR": P + "PARTIES_SUB_ID_PUT_ERROR",
    # Base-URL resources: same type, ``/error`` path
    P + "QUOTES": P + "QUOTES",
    P + "BULK_QUOTES": P + "BULK_QUOTES",
    P + "TRX_REQ_SERVICE": P + "TRX_REQ_SERVICE",
    P + "AUTHORIZATIONS": P + "AUTHORIZATIONS",
    P + "FX_QUOTES": P + "FX_QUOTES",
    # Transfers
    P + "TRANSFER_POST": P + "TRANSFER_ERROR",
    P + "TRANSFER_PUT": P + "TRANSFER_ERROR",
    P + "TRANSFER_ERROR": P + "TRANSFER_ERROR",
    P + "BULK_TRANSFER_POST": P + "BULK_TRANSFER_ERROR",
    P + "BULK_TRANSFER_PUT": P + "BULK_TRANSFER_ERROR",
    P + "BULK_TRANSFER_ERROR": P + "BULK_TRANSFER_ERROR",
    P + "FX_TRANSFER_POST": P + "FX_TRANSFER_ERROR",
    P + "FX_TRANSFER_PUT": P + "FX_TRANSFER_ERROR",
    P + "FX_TRANSFER_ERROR": P + "FX_TRANSFER_ERROR",
}

# Third-party types: ``TP_CB_URL_<NOUN>_<VERB>`` → ``TP_CB_URL_<NOUN>_PUT_ERROR`` (thirdparty.md §5).
_TP_VERBS = ("_POST", "_GET", "_PUT", "_PATCH", "_PUT_ERROR")
_TP_SPECIAL = {
    "TP_CB_URL_CREATE_CREDENTIAL_POST": "TP_CB_URL_CONSENT_PUT_ERROR",
    "TP_CB_URL_CONSENT_GENERATE_CHALLENGE_POST": "TP_CB_URL_CONSENT_GENERATE_CHALLENGE_PUT_ERROR",
}


def error_endpoint_type(endpoint_type: str) -> str | None:
    """The endpoint type the error callback for an undeliverable message of ``endpoint_type``
    goes to (at the message's origin), or None when there is no FSPIOP error route."""
    if endpoint_type in ERROR_ENDPOINT:
        return ERROR_ENDPOINT[endpoint_type]
    if endpoint_type in _TP_SPECIAL:
        return _TP_SPECIAL[endpoint_type]
    if endpoint_type.startswith("TP_CB_URL_"):
        for verb in sorted(_TP_VERBS, key=len, reverse=True):
            if endpoint_type.endswith(verb):
                return endpoint_type[: -len(verb)] + "_PUT_ERROR"
    return None


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")

# Template keys that name the resource id; when the message does not give them in ``params``
# they default to the message's request id (``{{transferId}}`` of a transfer callback, ...).
ID_KEYS: frozenset[str] = frozenset({"id", "ID", "transferId", "requestId", "commitRequestId", "bulkQuoteId"})


@dataclass(frozen=True, slots=True)
class UrlContext:
    """What a template may refer to."""

    recipient: str
    path: str
    params: Mapping[str, str]
    request_id: str | None


def template_values(ctx: UrlContext) -> dict[str, str]:
    """Values for ``{{key}}``: the message params win; the party keys are otherwise read from a
    ``/parties/...`` or ``/participants/...`` path, ids default to the request id."""
    values: dict[str, str] = {"fsp": ctx.recipient}
    segments = [s for s in ctx.path.split("?", 1)[0].split("/") if s]
    if segments and segments[-1] == "error":
        segments = segments[:-1]
    if len(segments) >= 3 and segments[0] in ("parties", "participants"):
        values["partyIdType"] = segments[1]
        values["partyIdentifier"] = segments[2]
        if len(segments) >= 4:
            values["partySubIdOrType"] = segments[3]
    if ctx.request_id is not None:
        for key in ID_KEYS:
            values[key] = ctx.request_id
    values.update({k: str(v) for k, v in ctx.params.items()})
    return values


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Mustache-style substitution; an unknown key renders empty (as Mustache does)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), template)


def render_url(template: str, endpoint_type: str, ctx: UrlContext) -> str:
    """The URL a message is sent to: the rendered template, plus the message path for base-URL
    endpoint types."""
    url = render_template(template.strip(), template_values(ctx))
    if is_base_url_type(endpoint_type):
        url = url.rstrip("/") + ctx.path
    return url


def error_path(method: str, path: str, params: Mapping[str, str], request_id: str | None) -> str:
    """``PUT {path}/error`` of the resource a message was about. A POST names its collection
    (``/transfers``), so its id comes from params or the request id."""
    base = path.split("?", 1)[0].rstrip("/")
    if base.endswith("/error"):
        return base
    if method.upper() == "POST":
        ident = next((params[k] for k in ("transferId", "id", "ID", "quoteId", "commitRequestId") if k in params),
                     request_id)
        if ident and not base.endswith("/" + ident):
            base = f"{base}/{ident}"
    return base + "/error"


def is_error_callback(endpoint_type: str, path: str) -> bool:
    return path.split("?", 1)[0].rstrip("/").endswith("/error") or endpoint_type.endswith("_ERROR")


def resource_of(path: str) -> str:
    """The FSPIOP resource (first path segment) of a path: ``/quotes/1/error`` → ``quotes``."""
    segments = [s for s in path.split("/") if s]
    return segments[0] if segments else ""
