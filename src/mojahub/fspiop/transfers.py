"""FSPIOP transfers: request bodies (validated once, compiled), the commands built from them, and
the rendering of the transfers context's notices into outbound FSPIOP requests.

Synchronous validation here (schema, ids, amount format, the fulfil's completedTimestamp window)
answers 400 with errorInformation; every business rule runs in ``transfers`` and is answered by
callback. The ILP packet is end-to-end data: checked for shape only, stored and forwarded unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, field_validator

from mojahub.fspiop.body import parse_json, validate
from mojahub.fspiop.headers import FspiopHeaders
from mojahub.fspiop.outbound import forward_headers, hub_headers
from mojahub.kernel.currencies import is_currency
from mojahub.kernel.errors import ErrorCode, HubError, error_body
from mojahub.kernel.ids import is_correlation_id
from mojahub.kernel.money import AmountError, parse_amount
from mojahub.kernel.timefmt import format_iso, parse_iso
from mojahub.storage.outbox import OutboundMessage
from mojahub.transfers.duplicates import body_hash
from mojahub.transfers.model import (
    Abort,
    ErrorNotice,
    Forward,
    Fulfil,
    FulfilAction,
    Notice,
    Prepare,
    StateNotice,
)

RESOURCE = "transfers"

CorrelationId = Annotated[
    str,
    StringConstraints(
        pattern=r"^([0-9a-f]{8}-[0-9a-f]{4}-[1-7][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}|[0-9A-HJKMNP-TV-Z]{26})$"
    ),
]
FspId = Annotated[str, StringConstraints(min_length=1, max_length=32)]
AmountText = Annotated[str, StringConstraints(pattern=r"^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[1-9])?$")]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
IlpCondition = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-_]{43}$", max_length=48)]
IlpFulfilment = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-_]{43}$", max_length=48)]
IlpPacket = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-_]+[=]{0,2}$", min_length=1, max_length=32768)]
DateTimeText = Annotated[
    str,
    StringConstraints(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{3})"
        r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
    ),
]
ErrorCodeText = Annotated[str, StringConstraints(pattern=r"^[1-9]\d{3}$")]


class _Body(BaseModel):
    # Unknown properties are tolerated (the TTK payee adds filler); all strings are strict.
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class Extension(_Body):
    key: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    value: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ExtensionList(_Body):
    extension: Annotated[list[Extension], Field(min_length=1, max_length=16)]


class MoneyBody(_Body):
    currency: CurrencyCode
    amount: AmountText

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, v: str) -> str:
        if not is_currency(v):
            raise ValueError("must be equal to one of the allowed values")
        return v


class PrepareBody(_Body):
    transferId: CorrelationId
    payeeFsp: FspId
    payerFsp: FspId
    amount: MoneyBody
    ilpPacket: IlpPacket
    condition: IlpCondition
    expiration: DateTimeText
    extensionList: ExtensionList | None = None


class FulfilBody(_Body):
    fulfilment: IlpFulfilment | None = None
    completedTimestamp: DateTimeText | None = None
    transferState: Literal["RECEIVED", "RESERVED", "COMMITTED", "ABORTED"]
    extensionList: ExtensionList | None = None


class ErrorInformationBody(_Body):
    errorCode: ErrorCodeText
    errorDescription: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    extensionList: ExtensionList | None = None


class ErrorBody(_Body):
    errorInformation: ErrorInformationBody


PREPARE = TypeAdapter(PrepareBody)
FULFIL = TypeAdapter(FulfilBody)
ERROR = TypeAdapter(ErrorBody)

_ACTIONS = {"COMMITTED": FulfilAction.COMMIT, "RESERVED": FulfilAction.RESERVE, "ABORTED": FulfilAction.REJECT}


def check_transfer_id(transfer_id: str) -> None:
    if not is_correlation_id(transfer_id):
        raise HubError(ErrorCode.VALIDATION_ERROR, "/params/ID must be a UUID or a ULID")


def prepare_command(headers: FspiopHeaders, raw: bytes) -> Prepare:
    data = parse_json(raw)
    body = validate(PREPARE, data)
    try:
        amount = parse_amount(body.amount.amount)
    except AmountError as exc:
        raise HubError(ErrorCode.VALIDATION_ERROR, f"/requestBody/amount/amount {exc}") from exc
    return Prepare(
        transfer_id=body.transferId,
        payer_fsp=body.payerFsp,
        payee_fsp=body.payeeFsp,
        amount=amount,
        currency=body.amount.currency,
        condition=body.condition,
        expires_at=parse_iso(body.expiration),
        ilp_packet=body.ilpPacket,
        source=headers.source,
        body_hash=body_hash(data),
        body=raw,
        forward_headers=forward_headers(headers.raw, destination=body.payeeFsp),
    )


def fulfil_command(transfer_id: str, headers: FspiopHeaders, raw: bytes, *, now: datetime,
                   future_tolerance_ms: int, max_age_s: float) -> Fulfil:
    check_transfer_id(transfer_id)
    data = parse_json(raw)
    body = validate(FULFIL, data)
    if body.transferState == "RECEIVED":
        raise HubError(ErrorCode.VALIDATION_ERROR, "/requestBody/transferState RECEIVED is not a fulfil state")
    completed = parse_iso(body.completedTimestamp) if body.completedTimestamp is not None else None
    if completed is not None:
        # ml-api-adapter: completedTimestamp not in the future (small dilation allowed), not too old.
        if completed > now + timedelta(milliseconds=future_tolerance_ms):
            raise HubError(ErrorCode.VALIDATION_ERROR, "completedTimestamp is in the future")
        if completed < now - timedelta(seconds=max_age_s):
            raise HubError(ErrorCode.VALIDATION_ERROR, "completedTimestamp is too old")
    return Fulfil(
        transfer_id=transfer_id,
        source=headers.source,
        destination=headers.destination,
        action=_ACTIONS[body.transferState],
        fulfilment=body.fulfilment,
        completed_at=completed,
        content_version=headers.content_version,
        body_hash=body_hash(data),
        body=raw,
        forward_headers=forward_headers(headers.raw),
    )


def abort_command(transfer_id: str, headers: FspiopHeaders, raw: bytes) -> Abort:
    check_transfer_id(transfer_id)
    data = parse_json(raw)
    body = validate(ERROR, data)
    return Abort(
        transfer_id=transfer_id,
        source=headers.source,
        destination=headers.destination,
        error_code=body.errorInformation.errorCode,
        error_description=body.errorInformation.errorDescription,
        body_hash=body_hash(data),
        body=raw,
        forward_headers=forward_headers(headers.raw),
    )


# ---------------------------------------------------------------------------------------------
# Rendering notices


def state_body(notice: StateNotice, *, now: datetime) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if notice.completed_at is not None:
        body["completedTimestamp"] = format_iso(notice.completed_at)
    elif notice.method == "PATCH":
        body["completedTimestamp"] = format_iso(now)  # mandatory in PATCH
    body["transferState"] = notice.transfer_state
    if notice.fulfilment is not None:
        body["fulfilment"] = notice.fulfilment
    if notice.cause is not None:
        body["extensionList"] = {"extension": [{"key": "cause", "value": notice.cause[:128]}]}
    return body


class FspiopTransferRenderer:
    """Implements ``transfers.service.Renderer``: notices become outbox messages."""

    def __init__(self, hub_name: str) -> None:
        self.hub_name = hub_name

    def _hub(self, to: str, method: str, path: str, now: datetime) -> dict[str, str]:
        return hub_headers(resource=RESOURCE, destination=to, method=method, path=path,
                           hub_name=self.hub_name, now=now)

    def render(self, notice: Notice, *, now: datetime) -> OutboundMessage:
        tid = notice.transfer_id
        params = {"transferId": tid}
        if isinstance(notice, Forward):
            headers: Mapping[str, str] = (
                dict(notice.headers) if notice.headers is not None
                else self._hub(notice.to, notice.method, notice.path, now)
            )
            return OutboundMessage(
                recipient=notice.to, endpoint_type=notice.endpoint.value, method=notice.method, path=notice.path,
                headers=headers, body=notice.body, params=params, request_id=tid, origin=notice.origin,
            )
        if isinstance(notice, ErrorNotice):
            path = f"/transfers/{tid}/error"
            return OutboundMessage(
                recipient=notice.to, endpoint_type="FSPIOP_CALLBACK_URL_TRANSFER_ERROR", method="PUT", path=path,
                headers=self._hub(notice.to, "PUT", path, now),
                body=orjson.dumps(error_body(notice.code, notice.description)), params=params, request_id=tid,
            )
        path = f"/transfers/{tid}"
        return OutboundMessage(
            recipient=notice.to, endpoint_type="FSPIOP_CALLBACK_URL_TRANSFER_PUT", method=notice.method, path=path,
            headers=self._hub(notice.to, notice.method, path, now),
            body=orjson.dumps(state_body(notice, now=now)), params=params, request_id=tid,
        )
