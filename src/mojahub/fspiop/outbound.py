"""Headers of the FSPIOP requests the hub sends.

* ``hub_headers``: callbacks the hub itself originates (errors, GET /transfers answers, PATCH,
  timeouts): ``FSPIOP-Source`` is the hub, ``FSPIOP-URI``/``FSPIOP-HTTP-Method`` are set, and there
  is **no Accept** (asserted by Mojaloop's collections, conformance-notes.md §0).
* ``forward_headers``: a DFSP's message passed on unchanged — the sender's Content-Type, Date,
  FSPIOP-Source/-Destination, signature and encryption headers are kept exactly, so end-to-end
  JWS signatures stay valid; only a missing FSPIOP-Destination is added.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from mojahub.fspiop.headers import content_type, forwardable
from mojahub.kernel.timefmt import format_http_date

HUB_CALLBACK_VERSION = "2.0"  # hub-originated transfer callbacks carry version=2.0 (TTK asserts it)


def hub_headers(
    *,
    resource: str,
    destination: str,
    method: str,
    path: str,
    hub_name: str,
    now: datetime,
    version: str = HUB_CALLBACK_VERSION,
) -> dict[str, str]:
    return {
        "Content-Type": content_type(resource, version),
        "Date": format_http_date(now),
        "FSPIOP-Source": hub_name,
        "FSPIOP-Destination": destination,
        "FSPIOP-URI": path,
        "FSPIOP-HTTP-Method": method.upper(),
    }


def forward_headers(original: Mapping[str, str], *, destination: str | None = None) -> dict[str, str]:
    """The sender's FSPIOP headers for a forwarded request; ``destination`` fills a missing
    FSPIOP-Destination (e.g. POST /transfers routed by payeeFsp, GET /parties after the oracle)."""
    out = {_canonical(k): v for k, v in forwardable(original).items()}
    if destination is not None and not out.get("FSPIOP-Destination"):
        out["FSPIOP-Destination"] = destination
    return out


_CANONICAL = {
    "content-type": "Content-Type",
    "accept": "Accept",
    "date": "Date",
    "fspiop-source": "FSPIOP-Source",
    "fspiop-destination": "FSPIOP-Destination",
    "fspiop-encryption": "FSPIOP-Encryption",
    "fspiop-signature": "FSPIOP-Signature",
    "fspiop-uri": "FSPIOP-URI",
    "fspiop-http-method": "FSPIOP-HTTP-Method",
    "traceparent": "traceparent",
    "tracestate": "tracestate",
    "x-forwarded-for": "X-Forwarded-For",
}


def _canonical(name: str) -> str:
    return _CANONICAL.get(name.lower(), name)
