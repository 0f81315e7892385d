"""FSPIOP ``/participants`` routes (ALS participant registry, reference fspiop.md §3.1,
admin-api.md §6.2):

* ``GET|POST|DELETE /participants/{Type}/{ID}[/{SubId}]`` → 202; the ALS answers itself with
  ``PUT /participants/{Type}/{ID}[/{SubId}]`` ``{fspId}`` (or ``.../error``) from the hub;
* ``POST /participants`` (batch) → 202; answered with ``PUT /participants/{requestId}``;
* ``PUT`` callbacks (``/participants/{Type}/{ID}[/{SubId}]``, ``/participants/{requestId}`` and
  their ``/error``) → 200, forwarded to their FSPIOP-Destination.

A path whose first segment is a party id type is a ``{Type}/{ID}`` path; anything else is a
batch ``{requestId}`` path.
"""

from __future__ import annotations

from urllib.parse import unquote

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mojahub.api.fspiop.parties import (
    ACCEPTED,
    OK,
    P,
    ack,
    error_factory,
    forward,
    hub_message,
    parse_party_path,
    raw_segments,
    read_valid_body,
    require_destination,
)
from mojahub.bootstrap import Hub
from mojahub.fspiop.headers import validate_headers
from mojahub.fspiop.parties import (
    ERROR_INFORMATION_OBJECT,
    PARTICIPANTS_ID_PUT,
    PARTICIPANTS_POST,
    PARTICIPANTS_TYPE_ID_POST,
    PARTICIPANTS_TYPE_ID_PUT,
    PARTY_ID_TYPES,
    check_correlation_id,
)
from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.lookup import service as lookup
from mojahub.lookup.model import PartyKey
from mojahub.storage.outbox import OutboundMessage


def _fsp_body(fsp_id: str) -> bytes:
    return orjson.dumps({"fspId": fsp_id})


def routes(hub: Hub) -> list[BaseRoute]:
    versions = hub.settings.supported_versions

    async def by_type(request: Request) -> Response:
        method = request.method
        pp = parse_party_path(request, "participants", allow_error=method == "PUT")
        sub = "SUB_ID_" if pp.has_sub_id else ""
        put_type = f"{P}PARTICIPANT_{sub}PUT"
        error_type = f"{P}PARTICIPANT_{sub}PUT_ERROR"
        now = hub.clock.now()
        h = validate_headers("participants", method, request.headers, has_body=method in ("POST", "PUT"),
                             versions=versions)
        errors = error_factory(hub=hub, h=h, endpoint_type=error_type, path=pp.path + "/error",
                               request_id=pp.path, now=now, params=pp.params)

        def reply(fsp_id: str) -> OutboundMessage:
            return hub_message(hub=hub, h=h, recipient=h.source, endpoint_type=put_type, path=pp.path,
                               body=_fsp_body(fsp_id), request_id=pp.path, now=now, params=pp.params)

        if method == "GET":
            await lookup.lookup_participant(
                hub.db, hub.resolver, key=pp.key, requester=h.source,
                currency=request.query_params.get("currency") or None,
                reply=reply, error_to_requester=errors, now=now,
            )
            status = ACCEPTED
        elif method == "POST":
            _, _, body = await read_valid_body(request, hub, PARTICIPANTS_TYPE_ID_POST)
            await lookup.register_participant(
                hub.db, hub.resolver, key=pp.key, requester=h.source, fsp_id=body.fspId,
                currency=body.currency, reply=reply(body.fspId), error_to_requester=errors, now=now,
            )
            status = ACCEPTED
        elif method == "DELETE":
            await lookup.remove_participant(
                hub.db, hub.resolver, key=pp.key, requester=h.source, reply=reply(h.source),
                error_to_requester=errors, now=now,
            )
            status = ACCEPTED
        else:  # PUT: a participant callback passing through the hub
            destination = require_destination(h, hub)
            if pp.is_error:
                raw, _, _ = await read_valid_body(request, hub, ERROR_INFORMATION_OBJECT)
            else:
                raw, _, _ = await read_valid_body(request, hub, PARTICIPANTS_TYPE_ID_PUT)
            path = pp.path + ("/error" if pp.is_error else "")
            await lookup.pass_callback(
                hub.db, sender=h.source, destination=destination,
                forward_to=lambda fsp: forward(
                    h=h, recipient=fsp, endpoint_type=error_type if pp.is_error else put_type, method="PUT",
                    path=path, body=raw, request_id=pp.path, origin=None if pp.is_error else h.source,
                    params=pp.params,
                ),
                error_to_sender=None if pp.is_error else errors,
                now=now,
            )
            status = OK
        hub.notify_outbox()
        return ack(status)

    async def batch_post(request: Request) -> Response:
        now = hub.clock.now()
        h = validate_headers("participants", "POST", request.headers, has_body=True, versions=versions)
        _, _, body = await read_valid_body(request, hub, PARTICIPANTS_POST)
        path = f"/participants/{body.requestId}"
        params = {"requestId": body.requestId}

        def reply(results: list[lookup.BatchResult]) -> OutboundMessage:
            party_list: list[dict[str, object]] = []
            for r in results:
                party: dict[str, object] = {
                    "partyId": {
                        "partyIdType": r.key.party_id_type,
                        "partyIdentifier": r.key.party_identifier,
                        **({"partySubIdOrType": r.key.party_sub_id} if r.key.party_sub_id else {}),
                        **({"fspId": r.fsp_id} if r.fsp_id else {}),
                    }
                }
                if r.error is not None:
                    party["errorInformation"] = r.error.to_body()["errorInformation"]
                party_list.append(party)
            payload: dict[str, object] = {"partyList": party_list}
            if body.currency:
                payload["currency"] = body.currency
            return hub_message(hub=hub, h=h, recipient=h.source, endpoint_type=f"{P}PARTICIPANT_BATCH_PUT",
                               path=path, body=orjson.dumps(payload), request_id=body.requestId, now=now,
                               params=params)

        items = [
            lookup.BatchItem(
                PartyKey(p.partyIdType, p.partyIdentifier, p.partySubIdOrType), p.fspId
            )
            for p in body.partyList
        ]
        await lookup.register_participants_batch(
            hub.db, hub.resolver, requester=h.source, items=items, currency=body.currency, reply=reply,
            error_to_requester=error_factory(
                hub=hub, h=h, endpoint_type=f"{P}PARTICIPANT_BATCH_PUT_ERROR", path=path + "/error",
                request_id=body.requestId, now=now, params=params,
            ),
            now=now,
        )
        hub.notify_outbox()
        return ack(ACCEPTED)

    async def batch_put(request: Request) -> Response:
        segments = raw_segments(request, "participants")
        is_error = len(segments) == 2 and segments[1] == "error"
        if len(segments) != 1 and not is_error:
            raise HubError(ErrorCode.UNKNOWN_URI)
        request_id = unquote(segments[0])
        check_correlation_id(request_id)
        now = hub.clock.now()
        h = validate_headers("participants", "PUT", request.headers, has_body=True, versions=versions)
        destination = require_destination(h, hub)
        if is_error:
            raw, _, _ = await read_valid_body(request, hub, ERROR_INFORMATION_OBJECT)
        else:
            raw, _, _ = await read_valid_body(request, hub, PARTICIPANTS_ID_PUT)
        base = f"/participants/{segments[0]}"
        params = {"requestId": segments[0]}
        endpoint = f"{P}PARTICIPANT_BATCH_PUT" + ("_ERROR" if is_error else "")
        await lookup.pass_callback(
            hub.db, sender=h.source, destination=destination,
            forward_to=lambda fsp: forward(
                h=h, recipient=fsp, endpoint_type=endpoint, method="PUT",
                path=base + ("/error" if is_error else ""), body=raw, request_id=request_id,
                origin=None if is_error else h.source, params=params,
            ),
            error_to_sender=None if is_error else error_factory(
                hub=hub, h=h, endpoint_type=f"{P}PARTICIPANT_BATCH_PUT_ERROR", path=base + "/error",
                request_id=request_id, now=now, params=params,
            ),
            now=now,
        )
        hub.notify_outbox()
        return ack(OK)

    async def dispatch(request: Request) -> Response:
        segments = raw_segments(request, "participants")
        if segments and segments[0] in PARTY_ID_TYPES:
            return await by_type(request)
        if request.method == "PUT":
            return await batch_put(request)
        if segments and unquote(segments[0]) in PARTY_ID_TYPES:
            return await by_type(request)
        # A {Type} that is not a party id type (GET/POST/DELETE /participants/FOO/1).
        if len(segments) >= 2:
            raise HubError(ErrorCode.VALIDATION_ERROR, "/params/Type must be equal to one of the allowed values")
        raise HubError(ErrorCode.UNKNOWN_URI)

    return [
        Route("/participants", batch_post, methods=["POST"]),
        Route("/participants/{rest:path}", dispatch, methods=["GET", "POST", "PUT", "DELETE"]),
    ]

