"""The payee side: answer GET /parties from the party store, POST /quotes with an ILP packet,
condition and fulfilment derived from a secret (as the Mojaloop SDK does: stateless, the
fulfilment is regenerated from the packet at transfer time), and POST /transfers according to
the configured behaviour. Also receives PATCH /transfers (commit notifications).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import timedelta
from typing import Any

from aiohttp import web

from mojahub.kernel import ilp
from mojahub.kernel.errors import ErrorCode, error_body
from mojahub.kernel.money import AmountError, parse_amount
from mojahub.kernel.timefmt import format_iso
from mojahub.sim.config import Mode, Party
from mojahub.sim.core import SimCore, fspiop_error, missing, read_json
from mojahub.sim.events import RECEIVED
from mojahub.sim.ilp import minor_units, party_address

MAX_PAYEE_TRANSFERS = 10_000


def party_body(party: Party, fsp_id: str) -> dict[str, Any]:
    info: dict[str, Any] = {"partyIdType": party.id_type, "partyIdentifier": party.id_value, "fspId": fsp_id}
    if party.sub_id:
        info["partySubIdOrType"] = party.sub_id
    body: dict[str, Any] = {"partyIdInfo": info}
    name = party.display_name or " ".join(n for n in (party.first_name, party.last_name) if n) or None
    if name:
        body["name"] = name
    complex_name = {k: v for k, v in (("firstName", party.first_name), ("lastName", party.last_name)) if v}
    personal: dict[str, Any] = {}
    if complex_name:
        personal["complexName"] = complex_name
    if party.date_of_birth:
        personal["dateOfBirth"] = party.date_of_birth
    if personal:
        body["personalInfo"] = personal
    return body


class PayeeSide:
    def __init__(self, core: SimCore) -> None:
        self.core = core
        self.secret = core.config.secret.encode()
        # transferId -> last known state of transfers paid to us (RESERVED/COMMITTED/ABORTED/...)
        self.transfers: OrderedDict[str, str] = OrderedDict()

    def _track(self, transfer_id: str, state: str) -> None:
        self.transfers[transfer_id] = state
        self.transfers.move_to_end(transfer_id)
        while len(self.transfers) > MAX_PAYEE_TRANSFERS:
            self.transfers.popitem(last=False)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/parties/{type}/{id}", self.get_parties),
            web.get("/parties/{type}/{id}/{sub}", self.get_parties),
            web.post("/quotes", self.post_quotes),
            web.post("/transfers", self.post_transfers),
            web.patch("/transfers/{id}", self.patch_transfer),
        ]

    # ---- GET /parties --------------------------------------------------------------------
    async def get_parties(self, request: web.Request) -> web.Response:
        id_type, id_value = request.match_info["type"], request.match_info["id"]
        sub = request.match_info.get("sub")
        requester = request.headers.get("FSPIOP-Source", "")
        self.core.record(RECEIVED, "GET", request.path, requester, None, summary=f"who is {id_type} {id_value}?")
        self.core.spawn(self._answer_parties(request.path, id_type, id_value, sub, requester))
        return web.Response(status=202)

    async def _answer_parties(self, path: str, id_type: str, id_value: str, sub: str | None, requester: str) -> None:
        behaviour = self.core.config.behaviour_for(id_type, id_value)
        await self.core.delay(behaviour.delay_ms)
        party = self.core.config.party(id_type, id_value, sub)
        if party is None:
            await self.core.send("PUT", f"{path}/error",
                                 error_body(ErrorCode.PARTY_NOT_FOUND.code, ErrorCode.PARTY_NOT_FOUND.description),
                                 destination=requester)
            return
        await self.core.send("PUT", path, {"party": party_body(party, self.core.fsp_id)}, destination=requester)

    # ---- POST /quotes --------------------------------------------------------------------
    async def post_quotes(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if isinstance(body, web.Response):
            return body
        bad = missing(body, "quoteId", "transactionId", "payee", "payer", "amount", "amountType", "transactionType")
        if bad is not None:
            return bad
        requester = request.headers.get("FSPIOP-Source", "")
        self.core.record(RECEIVED, "POST", "/quotes", requester, body)
        self.core.spawn(self._answer_quote(body, requester))
        return web.Response(status=202)

    async def _answer_quote(self, quote: dict[str, Any], requester: str) -> None:
        quote_id = str(quote["quoteId"])
        payee_info = (quote.get("payee") or {}).get("partyIdInfo") or {}
        id_type, id_value = payee_info.get("partyIdType"), payee_info.get("partyIdentifier")
        behaviour = self.core.config.behaviour_for(id_type, id_value)
        await self.core.delay(behaviour.delay_ms)
        error: tuple[ErrorCode, str] | None = None
        units = 0
        amount = quote.get("amount") or {}
        currency = str(amount.get("currency", ""))
        try:
            units = parse_amount(str(amount.get("amount", "")))
        except AmountError as exc:
            error = (ErrorCode.VALIDATION_ERROR, str(exc))
        if error is None and behaviour.mode is Mode.REJECT_QUOTE:
            error = (ErrorCode.PAYEE_REJECTED_QUOTE, ErrorCode.PAYEE_REJECTED_QUOTE.description)
        if error is None and (not id_type or not id_value or self.core.config.party(id_type, id_value) is None):
            error = (ErrorCode.PARTY_NOT_FOUND, ErrorCode.PARTY_NOT_FOUND.description)
        if error is not None:
            await self.core.send("PUT", f"/quotes/{quote_id}/error", error_body(error[0].code, error[1]),
                                 destination=requester)
            return
        transaction = {
            "transactionId": quote["transactionId"],
            "quoteId": quote_id,
            "payee": quote["payee"],
            "payer": quote["payer"],
            "amount": {"amount": amount["amount"], "currency": currency},
            "transactionType": quote["transactionType"],
        }
        if quote.get("note"):
            transaction["note"] = quote["note"]
        account = party_address(self.core.config.ilp_address_prefix, str(id_type), str(id_value))
        packet = ilp.payment_packet(minor_units(units, currency), account, transaction)
        _fulfilment, condition = ilp.condition_pair(self.secret, packet)
        expiration = self.core.now() + timedelta(seconds=self.core.config.quote_expiry_s)
        answer = {
            "transferAmount": {"amount": amount["amount"], "currency": currency},
            "payeeReceiveAmount": {"amount": amount["amount"], "currency": currency},
            "expiration": format_iso(expiration),
            "ilpPacket": packet,
            "condition": condition,
        }
        await self.core.send("PUT", f"/quotes/{quote_id}", answer, destination=requester)

    # ---- POST /transfers -----------------------------------------------------------------
    async def post_transfers(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if isinstance(body, web.Response):
            return body
        bad = missing(body, "transferId", "payerFsp", "payeeFsp", "amount", "ilpPacket", "condition", "expiration")
        if bad is not None:
            return bad
        requester = request.headers.get("FSPIOP-Source", str(body.get("payerFsp", "")))
        self.core.record(RECEIVED, "POST", "/transfers", requester, body)
        self._track(str(body["transferId"]), "RECEIVED")
        self.core.spawn(self._answer_transfer(body, requester))
        return web.Response(status=202)

    async def _answer_transfer(self, transfer: dict[str, Any], requester: str) -> None:
        transfer_id = str(transfer["transferId"])
        packet = str(transfer["ilpPacket"])
        try:
            transaction = ilp.transaction_from_packet(packet)
        except ilp.IlpError as exc:
            await self.core.send("PUT", f"/transfers/{transfer_id}/error",
                                 error_body(ErrorCode.VALIDATION_ERROR.code, f"unreadable ILP packet: {exc}"),
                                 destination=requester)
            self._track(transfer_id, "ABORTED")
            return
        payee_info = (transaction.get("payee") or {}).get("partyIdInfo") or {}
        behaviour = self.core.config.behaviour_for(payee_info.get("partyIdType"), payee_info.get("partyIdentifier"))
        await self.core.delay(behaviour.delay_ms)
        mode = behaviour.mode
        if mode is Mode.SILENT:
            return
        if mode is Mode.REJECT:
            await self.core.send("PUT", f"/transfers/{transfer_id}/error",
                                 error_body(ErrorCode.PAYEE_REJECTED_TXN.code,
                                            ErrorCode.PAYEE_REJECTED_TXN.description),
                                 destination=requester)
            self._track(transfer_id, "ABORTED")
            return
        fulfilment, condition = ilp.condition_pair(self.secret, packet)
        if condition != str(transfer["condition"]).rstrip("="):
            # Not a packet this DFSP quoted (or a different secret): refuse rather than guess.
            await self.core.send("PUT", f"/transfers/{transfer_id}/error",
                                 error_body(ErrorCode.PAYEE_FSP_REJECTED_TXN.code,
                                            "condition does not match the payee's fulfilment"),
                                 destination=requester)
            self._track(transfer_id, "ABORTED")
            return
        if mode is Mode.WRONG_FULFILMENT:
            fulfilment = ilp.b64url_encode(hashlib.sha256(b"not-the-fulfilment:" + transfer_id.encode()).digest())
        state = "RESERVED" if mode is Mode.RESERVE else "COMMITTED"
        answer = {"fulfilment": fulfilment, "completedTimestamp": format_iso(self.core.now()), "transferState": state}
        self._track(transfer_id, "RESERVED")
        await self.core.send("PUT", f"/transfers/{transfer_id}", answer, destination=requester)

    async def patch_transfer(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if isinstance(body, web.Response):
            return body
        transfer_id = request.match_info["id"]
        self.core.record(RECEIVED, "PATCH", request.path, request.headers.get("FSPIOP-Source"), body)
        state = body.get("transferState")
        if isinstance(state, str):
            self._track(transfer_id, state)
        return web.Response(status=200)

    def on_transfer_callback(self, transfer_id: str, ok: bool, body: dict[str, Any]) -> None:
        """A PUT /transfers/{id}[/error] for a transfer we did not send: the hub's copy to the payee."""
        if transfer_id in self.transfers:
            state = body.get("transferState") if ok else "ABORTED"
            if isinstance(state, str):
                self._track(transfer_id, state)


def unknown(request: web.Request) -> web.Response:
    return fspiop_error(ErrorCode.UNKNOWN_URI, f"{request.method} {request.path} is not served by this simulator")
