"""The payer side: an outbound API in the style of Mojaloop's SDK scheme adapter.

``POST /transfers`` ``{homeTransactionId?, from: {idType, idValue, ...}, to: {idType, idValue, fspId?},
amountType, currency, amount, transactionType?, note?, skipPartyLookup?}`` runs lookup → quote →
transfer and answers the SDK-shaped state (``currentState`` COMPLETED, or ERROR_OCCURRED with
``errorInformation``; with acceptance switched off it stops at WAITING_FOR_PARTY_ACCEPTANCE /
WAITING_FOR_QUOTE_ACCEPTANCE until ``PUT /transfers/{transferId}`` ``{acceptParty|acceptQuote: true}``).

Also the callbacks the hub sends to a payer (PUT /parties, /quotes, /transfers and their errors)
and the payer side of a transaction request (POST /transactionRequests → PUT, then pay it).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mojahub.kernel import ilp
from mojahub.kernel.errors import ErrorCode, error_body
from mojahub.kernel.money import AmountError, format_amount, number_to_units
from mojahub.kernel.timefmt import format_iso
from mojahub.sim.core import Outcome, SimCore, fspiop_error, read_json
from mojahub.sim.events import RECEIVED

COMPLETED = "COMPLETED"
ERROR_OCCURRED = "ERROR_OCCURRED"
ABORTED = "ABORTED"
WAITING_FOR_PARTY_ACCEPTANCE = "WAITING_FOR_PARTY_ACCEPTANCE"
WAITING_FOR_QUOTE_ACCEPTANCE = "WAITING_FOR_QUOTE_ACCEPTANCE"
IN_PROGRESS = "IN_PROGRESS"


class PartyRef(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id_type: str = Field(alias="idType", min_length=1)
    id_value: str = Field(alias="idValue", min_length=1, max_length=128)
    id_sub_value: str | None = Field(default=None, alias="idSubValue")
    fsp_id: str | None = Field(default=None, alias="fspId", max_length=32)
    display_name: str | None = Field(default=None, alias="displayName")


class OutboundTransferRequest(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    home_transaction_id: str | None = Field(default=None, alias="homeTransactionId")
    from_: PartyRef = Field(alias="from")
    to: PartyRef
    amount_type: Literal["SEND", "RECEIVE"] = Field(default="SEND", alias="amountType")
    currency: str = Field(min_length=3, max_length=3)
    amount: str
    transaction_type: str = Field(default="TRANSFER", alias="transactionType")
    note: str | None = Field(default=None, max_length=128)
    skip_party_lookup: bool = Field(default=False, alias="skipPartyLookup")
    auto_accept_party: bool | None = Field(default=None, alias="autoAcceptParty")
    auto_accept_quote: bool | None = Field(default=None, alias="autoAcceptQuote")
    transaction_request_id: str | None = Field(default=None, alias="transactionRequestId")
    initiator: Literal["PAYER", "PAYEE"] = "PAYER"

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_text(cls, value: Any) -> str:
        # SDK requests carry the amount as a string; a JSON number is accepted too (exactly).
        try:
            return format_amount(number_to_units(value))
        except AmountError as exc:
            raise ValueError(str(exc)) from exc


@dataclass
class OutboundTransfer:
    transfer_id: str
    request: OutboundTransferRequest
    current_state: str = IN_PROGRESS
    payee_fsp: str | None = None
    party: dict[str, Any] | None = None
    quote_id: str | None = None
    transaction_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    quote_request: dict[str, Any] | None = None
    quote_response: dict[str, Any] | None = None
    fulfil: dict[str, Any] | None = None
    error: dict[str, Any] | None = None  # errorInformation
    error_stage: str | None = None

    def to_json(self) -> dict[str, Any]:
        req = self.request
        out: dict[str, Any] = {
            "transferId": self.transfer_id,
            "homeTransactionId": req.home_transaction_id,
            "from": req.from_.model_dump(by_alias=True, exclude_none=True),
            "to": {**req.to.model_dump(by_alias=True, exclude_none=True),
                   **({"fspId": self.payee_fsp} if self.payee_fsp else {})},
            "amountType": req.amount_type,
            "currency": req.currency,
            "amount": req.amount,
            "transactionType": req.transaction_type,
            "currentState": self.current_state,
        }
        if req.note:
            out["note"] = req.note
        if self.party is not None:
            out["getPartiesResponse"] = {"body": {"party": self.party}}
            if self.party.get("name"):
                out["to"]["displayName"] = self.party["name"]
        if self.quote_id is not None:
            out["quoteId"] = self.quote_id
        if self.quote_response is not None:
            out["quoteResponse"] = {"body": self.quote_response}
        if self.fulfil is not None:
            out["fulfil"] = {"body": self.fulfil}
        if self.error is not None:
            out["errorInformation"] = self.error
            out["lastError"] = {"stage": self.error_stage, "mojaloopError": {"errorInformation": self.error}}
        return out


def _parties_key(id_type: str, id_value: str, sub: str | None) -> str:
    return f"{id_type}/{id_value}" + (f"/{sub}" if sub else "")


class PayerSide:
    def __init__(self, core: SimCore, *, on_foreign_transfer: Callable[[str, bool, dict[str, Any]], None]) -> None:
        self.core = core
        self.transfers: OrderedDict[str, OutboundTransfer] = OrderedDict()
        self.transaction_requests: dict[str, dict[str, Any]] = {}
        self._on_foreign_transfer = on_foreign_transfer
        self.continue_transaction_requests = True

    # ---- callback routes (hub → us) --------------------------------------------------------
    def callback_routes(self) -> list[web.RouteDef]:
        return [
            web.put("/parties/{type}/{id}", self.put_parties),
            web.put("/parties/{type}/{id}/{sub}", self.put_parties),
            web.put("/parties/{type}/{id}/{sub}/error", self.put_parties),
            web.put("/participants/{tail:.*}", self.put_participants),
            web.put("/quotes/{id}", self.put_quotes),
            web.put("/quotes/{id}/error", self.put_quotes),
            web.put("/transfers/{id}", self.put_transfers),
            web.put("/transfers/{id}/error", self.put_transfers),
            web.post("/transactionRequests", self.post_transaction_request),
            web.put("/transactionRequests/{id}", self.put_transaction_request),
            web.put("/transactionRequests/{id}/error", self.put_transaction_request),
        ]

    async def _callback(self, request: web.Request) -> tuple[dict[str, Any], bool] | web.Response:
        body = await read_json(request)
        if isinstance(body, web.Response):
            return body
        self.core.record(RECEIVED, request.method, request.path, request.headers.get("FSPIOP-Source"), body)
        return body, not request.path.endswith("/error")

    async def put_parties(self, request: web.Request) -> web.Response:
        got = await self._callback(request)
        if isinstance(got, web.Response):
            return got
        body, ok = got
        parts = request.path.strip("/").split("/")[1:]
        if not ok:
            parts = parts[:-1]
        if len(parts) not in (2, 3):
            return fspiop_error(ErrorCode.UNKNOWN_URI)
        self.core.resolve("parties", "/".join(parts), (ok, body))
        return web.Response(status=200)

    async def put_participants(self, request: web.Request) -> web.Response:
        got = await self._callback(request)
        if isinstance(got, web.Response):
            return got
        body, ok = got
        parts = request.path.strip("/").split("/")[1:]
        if not ok:
            parts = parts[:-1]
        self.core.resolve("participants", "/".join(parts), (ok, body))
        return web.Response(status=200)

    async def register_party(self, id_type: str, id_value: str, currency: str | None = None) -> Outcome:
        """As the owning DFSP: ``POST /participants/{Type}/{ID}`` to the hub's ALS, wait for the PUT."""
        key = f"{id_type}/{id_value}"
        fut = self.core.expect("participants", key)
        body = {"fspId": self.core.fsp_id, "currency": currency or self.core.config.currency}
        _status, err = await self.core.send("POST", f"/participants/{key}", body, destination=None)
        if err is not None:
            self.core.forget("participants", key, fut)
            return False, err
        return await self.core.wait("participants", key, fut, f"PUT /participants/{key}")

    async def put_quotes(self, request: web.Request) -> web.Response:
        got = await self._callback(request)
        if isinstance(got, web.Response):
            return got
        body, ok = got
        self.core.resolve("quotes", request.match_info["id"], (ok, body))
        return web.Response(status=200)

    async def put_transfers(self, request: web.Request) -> web.Response:
        got = await self._callback(request)
        if isinstance(got, web.Response):
            return got
        body, ok = got
        transfer_id = request.match_info["id"]
        if not self.core.resolve("transfers", transfer_id, (ok, body)):
            self._on_foreign_transfer(transfer_id, ok, body)
        return web.Response(status=200)

    async def put_transaction_request(self, request: web.Request) -> web.Response:
        got = await self._callback(request)
        if isinstance(got, web.Response):
            return got
        body, ok = got
        self.core.resolve("transactionRequests", request.match_info["id"], (ok, body))
        return web.Response(status=200)

    # ---- the payer of a transaction request (request to pay) -------------------------------
    async def post_transaction_request(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if isinstance(body, web.Response):
            return body
        for key in ("transactionRequestId", "payee", "payer", "amount", "transactionType"):
            if key not in body:
                return fspiop_error(ErrorCode.MISSING_ELEMENT, f"/requestBody must have required property '{key}'")
        requester = request.headers.get("FSPIOP-Source", "")
        self.core.record(RECEIVED, "POST", "/transactionRequests", requester, body)
        self.core.spawn(self._answer_transaction_request(body, requester))
        return web.Response(status=202)

    async def _answer_transaction_request(self, body: dict[str, Any], requester: str) -> None:
        request_id = str(body["transactionRequestId"])
        payer = body.get("payer") or {}
        payer_info = payer.get("partyIdInfo", payer) if isinstance(payer, dict) else {}
        known = self.core.config.party(str(payer_info.get("partyIdType")), str(payer_info.get("partyIdentifier")))
        if known is None:
            await self.core.send("PUT", f"/transactionRequests/{request_id}/error",
                                 error_body(ErrorCode.PARTY_NOT_FOUND.code, "payer unknown at this DFSP"),
                                 destination=requester)
            return
        transaction_id = str(uuid.uuid4())
        self.transaction_requests[request_id] = body
        await self.core.send("PUT", f"/transactionRequests/{request_id}",
                             {"transactionId": transaction_id, "transactionRequestState": "RECEIVED"},
                             destination=requester)
        if not self.continue_transaction_requests:
            return
        payee_info = (body.get("payee") or {}).get("partyIdInfo") or {}
        amount = body.get("amount") or {}
        req = OutboundTransferRequest.model_validate({
            "from": {"idType": known.id_type, "idValue": known.id_value},
            "to": {"idType": payee_info.get("partyIdType", ""), "idValue": payee_info.get("partyIdentifier", ""),
                   "fspId": payee_info.get("fspId") or requester},
            "amountType": "RECEIVE", "currency": amount.get("currency", ""), "amount": amount.get("amount", "0"),
            "skipPartyLookup": True, "transactionRequestId": request_id, "initiator": "PAYEE",
            "autoAcceptParty": True, "autoAcceptQuote": True,
        })
        t = self._new(req)
        t.transaction_id = transaction_id
        t.party = body.get("payee")
        t.payee_fsp = req.to.fsp_id
        await self._after_party(t)

    async def request_to_pay(self, *, payee_id: tuple[str, str], payer_id: tuple[str, str], payer_fsp: str,
                             amount: str, currency: str) -> tuple[bool, dict[str, Any]]:
        """As payee: POST /transactionRequests to the payer FSP and wait for its answer."""
        request_id = str(uuid.uuid4())
        payee = self.core.config.party(*payee_id)
        body = {
            "transactionRequestId": request_id,
            "payee": {"partyIdInfo": {"partyIdType": payee_id[0], "partyIdentifier": payee_id[1],
                                      "fspId": self.core.fsp_id},
                      **({"name": payee.display_name} if payee and payee.display_name else {})},
            "payer": {"partyIdType": payer_id[0], "partyIdentifier": payer_id[1], "fspId": payer_fsp},
            "amount": {"amount": amount, "currency": currency},
            "transactionType": {"scenario": "PAYMENT", "initiator": "PAYEE", "initiatorType": "BUSINESS"},
        }
        fut = self.core.expect("transactionRequests", request_id)
        _status, err = await self.core.send("POST", "/transactionRequests", body, destination=payer_fsp)
        if err is not None:
            self.core.forget("transactionRequests", request_id, fut)
            return False, err
        return await self.core.wait("transactionRequests", request_id, fut, "PUT /transactionRequests")

    # ---- outbound transfers ----------------------------------------------------------------
    def _new(self, req: OutboundTransferRequest) -> OutboundTransfer:
        t = OutboundTransfer(transfer_id=str(uuid.uuid4()), request=req)
        self.transfers[t.transfer_id] = t
        while len(self.transfers) > self.core.config.max_tracked_transfers:
            self.transfers.popitem(last=False)
        return t

    def _fail(self, t: OutboundTransfer, stage: str, error: dict[str, Any]) -> None:
        info = error.get("errorInformation", error)
        t.error = info if isinstance(info, dict) else {"errorCode": "2001", "errorDescription": str(info)}
        t.error_stage = stage
        t.current_state = ERROR_OCCURRED

    async def send_transfer(self, req: OutboundTransferRequest) -> OutboundTransfer:
        """Run lookup → quote → transfer as far as acceptance settings allow."""
        t = self._new(req)
        if req.skip_party_lookup and req.to.fsp_id:
            t.payee_fsp = req.to.fsp_id
            t.party = {"partyIdInfo": {"partyIdType": req.to.id_type, "partyIdentifier": req.to.id_value,
                                       "fspId": req.to.fsp_id}}
        else:
            await self._lookup(t)
            if t.current_state == ERROR_OCCURRED:
                return t
            accept = req.auto_accept_party if req.auto_accept_party is not None else self.core.config.auto_accept_party
            if not accept:
                t.current_state = WAITING_FOR_PARTY_ACCEPTANCE
                return t
        await self._after_party(t)
        return t

    async def accept_party(self, t: OutboundTransfer, accept: bool) -> OutboundTransfer:
        if not accept:
            t.current_state = ABORTED
            return t
        t.current_state = IN_PROGRESS
        await self._after_party(t)
        return t

    async def accept_quote(self, t: OutboundTransfer, accept: bool) -> OutboundTransfer:
        if not accept:
            t.current_state = ABORTED  # FSPIOP: a payer declining a quote just lets it expire
            return t
        t.current_state = IN_PROGRESS
        await self._transfer(t)
        return t

    async def _after_party(self, t: OutboundTransfer) -> None:
        await self._quote(t)
        if t.current_state == ERROR_OCCURRED:
            return
        req = t.request
        accept = req.auto_accept_quote if req.auto_accept_quote is not None else self.core.config.auto_accept_quote
        if not accept:
            t.current_state = WAITING_FOR_QUOTE_ACCEPTANCE
            return
        await self._transfer(t)

    async def _lookup(self, t: OutboundTransfer) -> None:
        to = t.request.to
        key = _parties_key(to.id_type, to.id_value, to.id_sub_value)
        fut = self.core.expect("parties", key)
        _status, err = await self.core.send("GET", f"/parties/{key}", None, destination=to.fsp_id)
        if err is not None:
            self.core.forget("parties", key, fut)
            self._fail(t, "party lookup", err)
            return
        ok, body = await self.core.wait("parties", key, fut, f"PUT /parties/{key}")
        if not ok:
            self._fail(t, "party lookup", body)
            return
        party = body.get("party")
        if not isinstance(party, dict) or not (party.get("partyIdInfo") or {}).get("fspId"):
            self._fail(t, "party lookup", error_body(ErrorCode.VALIDATION_ERROR.code, "party without fspId"))
            return
        t.party = party
        t.payee_fsp = str(party["partyIdInfo"]["fspId"])

    async def _quote(self, t: OutboundTransfer) -> None:
        assert t.payee_fsp is not None
        assert t.party is not None
        req = t.request
        cfg = self.core.config
        t.quote_id = str(uuid.uuid4())
        payer_info: dict[str, Any] = {"partyIdType": req.from_.id_type, "partyIdentifier": req.from_.id_value,
                                      "fspId": cfg.fsp_id}
        payer: dict[str, Any] = {"partyIdInfo": payer_info}
        known = cfg.party(req.from_.id_type, req.from_.id_value)
        name = req.from_.display_name or (known.display_name if known else None)
        if name:
            payer["name"] = name
        quote: dict[str, Any] = {
            "quoteId": t.quote_id,
            "transactionId": t.transaction_id,
            "payee": t.party,
            "payer": payer,
            "amountType": req.amount_type,
            "amount": {"amount": req.amount, "currency": req.currency},
            "transactionType": {
                "scenario": req.transaction_type, "initiator": req.initiator,
                "initiatorType": "CONSUMER" if req.initiator == "PAYER" else "BUSINESS",
            },
            "expiration": format_iso(self.core.now() + timedelta(seconds=cfg.quote_expiry_s)),
        }
        if req.transaction_request_id:
            quote["transactionRequestId"] = req.transaction_request_id
        if req.note:
            quote["note"] = req.note
        t.quote_request = quote
        fut = self.core.expect("quotes", t.quote_id)
        _status, err = await self.core.send("POST", "/quotes", quote, destination=t.payee_fsp)
        if err is not None:
            self.core.forget("quotes", t.quote_id, fut)
            self._fail(t, "quote", err)
            return
        ok, body = await self.core.wait("quotes", t.quote_id, fut, f"PUT /quotes/{t.quote_id}")
        if not ok:
            self._fail(t, "quote", body)
            return
        t.quote_response = body

    async def _transfer(self, t: OutboundTransfer) -> None:
        assert t.quote_response is not None
        assert t.payee_fsp is not None
        quote = t.quote_response
        body = {
            "transferId": t.transfer_id,
            "payerFsp": self.core.fsp_id,
            "payeeFsp": t.payee_fsp,
            "amount": quote.get("transferAmount"),
            "ilpPacket": quote.get("ilpPacket"),
            "condition": quote.get("condition"),
            "expiration": format_iso(self.core.now() + timedelta(seconds=self.core.config.transfer_expiry_s)),
        }
        fut = self.core.expect("transfers", t.transfer_id)
        _status, err = await self.core.send("POST", "/transfers", body, destination=t.payee_fsp)
        if err is not None:
            self.core.forget("transfers", t.transfer_id, fut)
            self._fail(t, "transfer", err)
            return
        ok, answer = await self.core.wait("transfers", t.transfer_id, fut, f"PUT /transfers/{t.transfer_id}")
        if not ok:
            self._fail(t, "transfer", answer)
            return
        t.fulfil = answer
        state = answer.get("transferState")
        fulfilment = answer.get("fulfilment")
        if state != "COMMITTED":
            self._fail(t, "transfer", error_body(ErrorCode.PAYEE_REJECTED_TXN.code, f"transfer state {state}"))
        elif not isinstance(fulfilment, str) or not _fulfils(fulfilment, str(quote.get("condition"))):
            # SDK behaviour: the payer checks the fulfilment against the condition it sent.
            self._fail(t, "transfer", error_body(ErrorCode.VALIDATION_ERROR.code, "fulfilment does not match"))
        else:
            t.current_state = COMPLETED

    # ---- outbound HTTP API -------------------------------------------------------------------
    def outbound_routes(self) -> list[web.RouteDef]:
        return [
            web.post("/transfers", self.api_post_transfer),
            web.put("/transfers/{id}", self.api_put_transfer),
            web.get("/transfers/{id}", self.api_get_transfer),
            web.get("/health", self.api_health),
        ]

    @staticmethod
    def _answer(t: OutboundTransfer) -> web.Response:
        state = t.to_json()
        if t.current_state == ERROR_OCCURRED:
            # SDK scheme adapter shape: HTTP 500 {message, statusCode, transferState}.
            info = t.error or {}
            return _json({"message": info.get("errorDescription", "error"), "statusCode": info.get("errorCode"),
                          "transferState": state}, 500)
        return _json(state, 200)

    async def api_post_transfer(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if isinstance(body, web.Response):
            return body
        try:
            req = OutboundTransferRequest.model_validate(body)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            return _json({"message": f"{where}: {first['msg']}", "statusCode": "400"}, 400)
        return self._answer(await self.send_transfer(req))

    async def api_put_transfer(self, request: web.Request) -> web.Response:
        t = self.transfers.get(request.match_info["id"])
        if t is None:
            return _json({"message": "unknown transferId", "statusCode": "404"}, 404)
        body = await read_json(request)
        if isinstance(body, web.Response):
            return body
        if "acceptParty" in body and t.current_state == WAITING_FOR_PARTY_ACCEPTANCE:
            return self._answer(await self.accept_party(t, body["acceptParty"] is True))
        if "acceptQuote" in body and t.current_state == WAITING_FOR_QUOTE_ACCEPTANCE:
            return self._answer(await self.accept_quote(t, body["acceptQuote"] is True))
        return _json({"message": f"transfer is {t.current_state}: nothing to accept", "statusCode": "400"}, 400)

    async def api_get_transfer(self, request: web.Request) -> web.Response:
        t = self.transfers.get(request.match_info["id"])
        if t is None:
            return _json({"message": "unknown transferId", "statusCode": "404"}, 404)
        return _json(t.to_json(), 200)

    async def api_health(self, _request: web.Request) -> web.Response:
        return _json({"status": "OK", "fspId": self.core.fsp_id}, 200)


def _json(value: Any, status: int) -> web.Response:
    return web.Response(body=orjson.dumps(value), status=status, content_type="application/json")


def _fulfils(fulfilment: str, condition: str) -> bool:
    try:
        return ilp.fulfilment_matches(fulfilment, condition)
    except ilp.IlpError:
        return False
