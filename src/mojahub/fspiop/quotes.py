"""FSPIOP bodies of ``/quotes`` (v1.1 QuotesPostRequest / QuotesIDPutResponse), compiled once,
and their translation into the quoting context's commands (amounts to integer units here, at
the edge). Error-code mapping of the TTK quotes_negative collection: reference fspiop.md §2.1a.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from mojahub.fspiop.parties import (
    Amount,
    Body,
    CorrelationId,
    Currency,
    DateTime,
    ExtensionList,
    IlpCondition,
    IlpPacket,
    Latitude,
    Longitude,
    Money,
    Party,
    Text128,
)
from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.kernel.money import AmountError, parse_amount
from mojahub.kernel.timefmt import parse_iso
from mojahub.quoting.model import QuoteAnswer, QuoteRequest, UnitsMoney

__all__ = ["Amount", "Currency", "QuotesIdPut", "QuotesPost", "to_answer", "to_request"]


class RefundInfo(Body):
    originalTransactionId: CorrelationId
    refundReason: Text128 | None = None


class TransactionType(Body):
    scenario: Literal["DEPOSIT", "WITHDRAWAL", "TRANSFER", "PAYMENT", "REFUND"]
    subScenario: Annotated[str, Field(pattern=r"^[A-Z_]{1,32}$")] | None = None
    initiator: Literal["PAYER", "PAYEE"]
    initiatorType: Literal["CONSUMER", "AGENT", "BUSINESS", "DEVICE"]
    refundInfo: RefundInfo | None = None
    balanceOfPayments: Annotated[str, Field(pattern=r"^[1-9]\d{2}$")] | None = None


class GeoCode(Body):
    latitude: Latitude
    longitude: Longitude


class QuotesPost(Body):
    quoteId: CorrelationId
    transactionId: CorrelationId
    transactionRequestId: CorrelationId | None = None
    payee: Party
    payer: Party
    amountType: Literal["SEND", "RECEIVE"]
    amount: Money
    fees: Money | None = None
    transactionType: TransactionType
    geoCode: GeoCode | None = None
    note: Text128 | None = None
    expiration: DateTime | None = None
    extensionList: ExtensionList | None = None


class QuotesIdPut(Body):
    transferAmount: Money
    payeeReceiveAmount: Money | None = None
    payeeFspFee: Money | None = None
    payeeFspCommission: Money | None = None
    expiration: DateTime
    geoCode: GeoCode | None = None
    ilpPacket: IlpPacket
    condition: IlpCondition
    extensionList: ExtensionList | None = None


QUOTES_POST: TypeAdapter[QuotesPost] = TypeAdapter(QuotesPost)
QUOTES_ID_PUT: TypeAdapter[QuotesIdPut] = TypeAdapter(QuotesIdPut)


def _units(money: Money | None, where: str) -> UnitsMoney | None:
    if money is None:
        return None
    try:
        return UnitsMoney(parse_amount(money.amount), money.currency)
    except AmountError as exc:  # the pattern already limits digits; kept for a clear message
        raise HubError(ErrorCode.VALIDATION_ERROR, f"/requestBody/{where}/amount {exc}") from exc


def to_request(body: QuotesPost) -> QuoteRequest:
    amount = _units(body.amount, "amount")
    assert amount is not None
    return QuoteRequest(
        quote_id=body.quoteId,
        transaction_id=body.transactionId,
        transaction_request_id=body.transactionRequestId,
        payer_fsp_in_body=body.payer.partyIdInfo.fspId,
        payee_fsp_in_body=body.payee.partyIdInfo.fspId,
        amount_type=body.amountType,
        amount=amount,
        fees=_units(body.fees, "fees"),
        scenario=body.transactionType.scenario,
        initiator=body.transactionType.initiator,
        initiator_type=body.transactionType.initiatorType,
        expires_at=parse_iso(body.expiration) if body.expiration else None,
    )


def to_answer(body: QuotesIdPut) -> QuoteAnswer:
    transfer_amount = _units(body.transferAmount, "transferAmount")
    assert transfer_amount is not None
    return QuoteAnswer(
        transfer_amount=transfer_amount,
        payee_receive_amount=_units(body.payeeReceiveAmount, "payeeReceiveAmount"),
        payee_fsp_fee=_units(body.payeeFspFee, "payeeFspFee"),
        payee_fsp_commission=_units(body.payeeFspCommission, "payeeFspCommission"),
        expires_at=parse_iso(body.expiration),
        ilp_packet=body.ilpPacket,
        condition=body.condition,
    )
