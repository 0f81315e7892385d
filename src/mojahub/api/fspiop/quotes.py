"""FSPIOP ``/quotes`` routes (reference fspiop.md §3.4, §2.1a):

* ``POST /quotes`` → 202: headers (FSPIOP-Destination required, 3102 'fspiop-destination'),
  then the body; both FSPs checked, the quote recorded and forwarded byte-for-byte to
  ``{FSPIOP_CALLBACK_URL_QUOTES}/quotes`` of the payee;
* ``PUT /quotes/{ID}`` and ``PUT /quotes/{ID}/error`` → 200: recorded and forwarded to the payer;
* ``GET /quotes/{ID}`` → 202: forwarded to the payee (see quoting.service).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mojahub.api.fspiop.parties import (
    ACCEPTED,
    OK,
    P,
    ack,
    destination_of,
    error_factory,
    forward,
    read_valid_body,
)
from mojahub.bootstrap import Hub
from mojahub.fspiop.headers import validate_headers
from mojahub.fspiop.parties import ERROR_INFORMATION_OBJECT, check_correlation_id
from mojahub.fspiop.quotes import QUOTES_ID_PUT, QUOTES_POST, to_answer, to_request
from mojahub.kernel.digest import canonical_json_hash
from mojahub.quoting import service as quoting

QUOTES = f"{P}QUOTES"


canonical_hash = canonical_json_hash


def routes(hub: Hub) -> list[BaseRoute]:
    versions = hub.settings.supported_versions

    async def post_quote(request: Request) -> Response:
        h = validate_headers("quotes", "POST", request.headers, has_body=True, require_destination=True,
                             versions=versions)
        raw, parsed, body = await read_valid_body(request, hub, QUOTES_POST)
        command = to_request(body)
        now = hub.clock.now()
        payee = destination_of(h, hub) or str(h.destination)
        quote_id = body.quoteId
        await quoting.request_quote(
            hub.db,
            request=command,
            payer_fsp=h.source,
            payee_fsp=payee,
            request_hash=canonical_hash(parsed),
            forward=forward(h=h, recipient=payee, endpoint_type=QUOTES, method="POST", path="/quotes", body=raw,
                            request_id=quote_id, origin=h.source),
            error_to_payer=error_factory(hub=hub, h=h, endpoint_type=QUOTES, path=f"/quotes/{quote_id}/error",
                                         request_id=quote_id, now=now),
            now=now,
        )
        hub.notify_outbox()
        return ack(ACCEPTED)

    async def put_quote(request: Request) -> Response:
        quote_id = request.path_params["id"]
        check_correlation_id(quote_id)
        h = validate_headers("quotes", "PUT", request.headers, has_body=True, versions=versions)
        raw, parsed, body = await read_valid_body(request, hub, QUOTES_ID_PUT)
        answer = to_answer(body)
        now = hub.clock.now()
        path = f"/quotes/{quote_id}"
        await quoting.answer_quote(
            hub.db,
            quote_id=quote_id,
            source=h.source,
            destination=destination_of(h, hub),
            answer=answer,
            answer_hash=canonical_hash(parsed),
            forward_to=lambda fsp: forward(h=h, recipient=fsp, endpoint_type=QUOTES, method="PUT", path=path,
                                           body=raw, request_id=quote_id, origin=h.source),
            error_to_sender=error_factory(hub=hub, h=h, endpoint_type=QUOTES, path=f"{path}/error",
                                          request_id=quote_id, now=now),
            now=now,
        )
        hub.notify_outbox()
        return ack(OK)

    async def put_quote_error(request: Request) -> Response:
        quote_id = request.path_params["id"]
        check_correlation_id(quote_id)
        h = validate_headers("quotes", "PUT", request.headers, has_body=True, versions=versions)
        raw, _, body = await read_valid_body(request, hub, ERROR_INFORMATION_OBJECT)
        now = hub.clock.now()
        path = f"/quotes/{quote_id}/error"
        await quoting.reject_quote(
            hub.db,
            quote_id=quote_id,
            source=h.source,
            destination=destination_of(h, hub),
            error_code=body.errorInformation.errorCode,
            error_description=body.errorInformation.errorDescription,
            forward_to=lambda fsp: forward(h=h, recipient=fsp, endpoint_type=QUOTES, method="PUT", path=path,
                                           body=raw, request_id=quote_id, origin=None),
            now=now,
        )
        hub.notify_outbox()
        return ack(OK)

    async def get_quote(request: Request) -> Response:
        quote_id = request.path_params["id"]
        check_correlation_id(quote_id)
        h = validate_headers("quotes", "GET", request.headers, has_body=False, versions=versions)
        now = hub.clock.now()
        path = f"/quotes/{quote_id}"
        await quoting.get_quote(
            hub.db,
            quote_id=quote_id,
            requester=h.source,
            destination=destination_of(h, hub),
            forward_to=lambda fsp: forward(h=h, recipient=fsp, endpoint_type=QUOTES, method="GET", path=path,
                                           body=None, request_id=quote_id, origin=h.source),
            error_to_requester=error_factory(hub=hub, h=h, endpoint_type=QUOTES, path=f"{path}/error",
                                             request_id=quote_id, now=now),
            now=now,
        )
        hub.notify_outbox()
        return ack(ACCEPTED)

    async def quote_item(request: Request) -> Response:
        if request.method == "GET":
            return await get_quote(request)
        return await put_quote(request)

    return [
        Route("/quotes", post_quote, methods=["POST"]),
        Route("/quotes/{id}", quote_item, methods=["GET", "PUT"]),
        Route("/quotes/{id}/error", put_quote_error, methods=["PUT"]),
    ]
