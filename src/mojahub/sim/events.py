"""What the simulator saw and sent: one ``SimEvent`` per FSPIOP message, for timelines and tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SENT = "sent"
RECEIVED = "received"


@dataclass(frozen=True, slots=True)
class SimEvent:
    at: datetime
    fsp: str  # the simulated DFSP that logged it
    direction: str  # SENT or RECEIVED
    method: str
    path: str
    peer: str | None  # FSPIOP-Destination of a sent message, FSPIOP-Source of a received one
    summary: str
    status: int | None = None  # HTTP status the hub answered a sent message with (None: no answer)

    def line(self) -> str:
        arrow = "->" if self.direction == SENT else "<-"
        status = f" [{self.status}]" if self.status is not None else ""
        peer = f" ({self.peer})" if self.peer else ""
        return f"{self.fsp:>10} {arrow} {self.method:5} {self.path}{peer}{status}  {self.summary}".rstrip()


EventSink = Callable[[SimEvent], None]


def _amount(value: Any) -> str:
    if isinstance(value, dict):
        return f"{value.get('amount')} {value.get('currency')}"
    return "?"


def summarize(method: str, path: str, body: Any) -> str:
    """A short human description of an FSPIOP message body."""
    if not isinstance(body, dict):
        return ""
    err = body.get("errorInformation")
    if isinstance(err, dict):
        return f"error {err.get('errorCode')} {err.get('errorDescription', '')}".rstrip()
    resource = path.strip("/").split("/", 1)[0]
    if resource == "parties" and isinstance(body.get("party"), dict):
        info = body["party"].get("partyIdInfo", {})
        return f"party {body['party'].get('name', '?')} at {info.get('fspId', '?')}"
    if resource == "quotes" and method == "POST":
        return f"quote {body.get('amountType', '')} {_amount(body.get('amount'))}"
    if resource == "quotes" and method == "PUT":
        return f"transferAmount {_amount(body.get('transferAmount'))}, condition {str(body.get('condition'))[:8]}…"
    if resource == "transfers" and method == "POST":
        return f"{body.get('payerFsp')} -> {body.get('payeeFsp')} {_amount(body.get('amount'))}"
    if resource == "transfers":
        state = body.get("transferState", "")
        fulfilment = body.get("fulfilment")
        return f"{state}" + (f", fulfilment {str(fulfilment)[:8]}…" if fulfilment else "")
    if resource == "transactionRequests":
        if method == "POST":
            return f"request to pay {_amount(body.get('amount'))}"
        return str(body.get("transactionRequestState", ""))
    return ""
