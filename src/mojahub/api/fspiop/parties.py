"""FSPIOP ``/parties`` routes (ALS): ``GET /parties/{Type}/{ID}[/{SubId}]`` and the payee's
``PUT`` (and ``PUT .../error``) callback, plus the small helpers the ALS and quote routes share.

Routes stay thin: validate headers and body (synchronous 400 with 3100/3101/3102 on bad input),
build the outgoing messages (forwarded requests keep the sender's headers and body bytes;
hub-originated errors get hub headers), call the lookup service, answer 202 / 200, wake the
dispatcher.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from urllib.parse import unquote

import orjson
from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mojahub.bootstrap import Hub
from mojahub.fspiop.body import parse_json, read_body, validate
from mojahub.fspiop.headers import FspiopHeaders, validate_headers
from mojahub.fspiop.outbound import forward_headers, hub_headers
from mojahub.fspiop.parties import ERROR_INFORMATION_OBJECT, PARTIES_TYPE_ID_PUT, check_party_path
from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.lookup import service as lookup
from mojahub.lookup.model import PartyKey
from mojahub.storage.outbox import OutboundMessage

T = TypeVar("T")
P = "FSPIOP_CALLBACK_URL_"
REQUEST_ID_MAX = 128  # outbox.request_id length

# -- shared edge helpers -------------------------------------------------------------------------


def raw_segments(request: Request, prefix: str) -> list[str]:
    """The path segments after ``/{prefix}`` exactly as sent (percent-encoding kept)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    parts = [s for s in path.split("/") if s]
    if not parts or parts[0] != prefix:
        raise HubError(ErrorCode.UNKNOWN_URI)
    return parts[1:]


def reply_version(h: FspiopHeaders) -> str:
    """The API version of a hub-originated callback: the request's Content-Type version, else the
    version its Accept asks for (major only → that major's latest minor we speak), else 1.1."""
    if h.content_version:
        return h.content_version
    if h.accept:
        first = h.accept.split(",")[0]
        if "version=" in first:
            wanted = first.split("version=", 1)[1].strip()
            if "." in wanted:
                return wanted
            return {"1": "1.1", "2": "2.0"}.get(wanted, "1.1")
    return "1.1"


def destination_of(h: FspiopHeaders, hub: Hub) -> str | None:
    """FSPIOP-Destination, None when absent or naming the hub itself."""
    if h.destination is None or h.destination == hub.settings.hub_name:
        return None
    return h.destination


async def read_valid_body(request: Request, hub: Hub, adapter: TypeAdapter[T]) -> tuple[bytes, object, T]:
    raw = await read_body(request, hub.settings.max_body_bytes)
    parsed = parse_json(raw)
    return raw, parsed, validate(adapter, parsed)


def forward(
    *,
    h: FspiopHeaders,
    recipient: str,
    endpoint_type: str,
    method: str,
    path: str,
    body: bytes | None,
    request_id: str,
    origin: str | None,
    params: dict[str, str] | None = None,
) -> OutboundMessage:
    """A DFSP's message passed on: its headers and body bytes unchanged, the destination set."""
    headers = forward_headers(h.raw, destination=recipient)
    return OutboundMessage(
        recipient=recipient,
        endpoint_type=endpoint_type,
        method=method,
        path=path,
        headers=headers,
        body=body,
        params=params or {},
        request_id=request_id[:REQUEST_ID_MAX],
        origin=origin,
    )


def hub_message(
    *,
    hub: Hub,
    h: FspiopHeaders,
    recipient: str,
    endpoint_type: str,
    path: str,
    body: bytes,
    request_id: str,
    now: datetime,
    params: dict[str, str] | None = None,
) -> OutboundMessage:
    """A callback the hub itself originates (``PUT``), in the request's API version."""
    return OutboundMessage(
        recipient=recipient,
        endpoint_type=endpoint_type,
        method="PUT",
        path=path,
        headers=hub_headers(
            resource=h.resource,
            destination=recipient,
            method="PUT",
            path=path,
            hub_name=hub.settings.hub_name,
            now=now,
            version=reply_version(h),
        ),
        body=body,
        params=params or {},
        request_id=request_id[:REQUEST_ID_MAX],
    )


def error_factory(
    *, hub: Hub, h: FspiopHeaders, endpoint_type: str, path: str, request_id: str, now: datetime,
    params: dict[str, str] | None = None,
) -> Callable[[HubError], OutboundMessage]:
    """Hub-originated ``PUT {path}`` error callbacks to the requester."""

    def make(err: HubError) -> OutboundMessage:
        return hub_message(
            hub=hub, h=h, recipient=h.source, endpoint_type=endpoint_type, path=path,
            body=orjson.dumps(err.to_body()), request_id=request_id, now=now, params=params,
        )

    return make


def require_destination(h: FspiopHeaders, hub: Hub) -> str:
    destination = destination_of(h, hub)
    if destination is None:
        raise HubError(ErrorCode.MISSING_ELEMENT, "/header must have required property 'fspiop-destination'")
    return destination


ACCEPTED = 202
OK = 200


def ack(status: int) -> Response:
    return Response(status_code=status)


# -- /parties ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartyPath:
    key: PartyKey
    path: str  # wire path without /error, e.g. /parties/MSISDN/123
    is_error: bool
    params: dict[str, str]

    @property
    def has_sub_id(self) -> bool:
        return self.key.party_sub_id is not None


def parse_party_path(request: Request, resource: str, *, allow_error: bool) -> PartyPath:
    segments = raw_segments(request, resource)
    is_error = allow_error and len(segments) in (3, 4) and segments[-1] == "error"
    if is_error:
        segments = segments[:-1]
    if len(segments) not in (2, 3):
        raise HubError(ErrorCode.UNKNOWN_URI)
    decoded = [unquote(s) for s in segments]
    sub_id = decoded[2] if len(decoded) == 3 else None
    check_party_path(decoded[0], decoded[1], sub_id)
    params = {"partyIdType": segments[0], "partyIdentifier": segments[1]}
    if len(segments) == 3:
        params["partySubIdOrType"] = segments[2]
    return PartyPath(
        key=PartyKey(decoded[0], decoded[1], sub_id),
        path=f"/{resource}/" + "/".join(segments),
        is_error=is_error,
        params=params,
    )


def routes(hub: Hub) -> list[BaseRoute]:
    async def parties(request: Request) -> Response:
        method = request.method
        pp = parse_party_path(request, "parties", allow_error=method == "PUT")
        sub = "SUB_ID_" if pp.has_sub_id else ""
        now = hub.clock.now()
        if method == "GET":
            h = validate_headers("parties", "GET", request.headers, has_body=False,
                                 versions=hub.settings.supported_versions)
            await lookup.lookup_party(
                hub.db,
                hub.resolver,
                key=pp.key,
                requester=h.source,
                destination=destination_of(h, hub),
                currency=None,
                forward_to=lambda fsp: forward(
                    h=h, recipient=fsp, endpoint_type=f"{P}PARTIES_{sub}GET", method="GET", path=pp.path,
                    body=None, request_id=pp.path, origin=h.source, params=pp.params,
                ),
                error_to_requester=error_factory(
                    hub=hub, h=h, endpoint_type=f"{P}PARTIES_{sub}PUT_ERROR", path=pp.path + "/error",
                    request_id=pp.path, now=now, params=pp.params,
                ),
                now=now,
            )
            hub.notify_outbox()
            return ack(ACCEPTED)

        # PUT: the payee's answer (or error) on its way back to the requester.
        h = validate_headers("parties", "PUT", request.headers, has_body=True,
                             versions=hub.settings.supported_versions)
        destination = require_destination(h, hub)
        if pp.is_error:
            raw, _, _ = await read_valid_body(request, hub, ERROR_INFORMATION_OBJECT)
        else:
            raw, _, _ = await read_valid_body(request, hub, PARTIES_TYPE_ID_PUT)
        path = pp.path + ("/error" if pp.is_error else "")
        endpoint = f"{P}PARTIES_{sub}PUT" + ("_ERROR" if pp.is_error else "")
        await lookup.pass_callback(
            hub.db,
            sender=h.source,
            destination=destination,
            forward_to=lambda fsp: forward(
                h=h, recipient=fsp, endpoint_type=endpoint, method="PUT", path=path, body=raw,
                request_id=pp.path, origin=None if pp.is_error else h.source, params=pp.params,
            ),
            error_to_sender=None if pp.is_error else error_factory(
                hub=hub, h=h, endpoint_type=f"{P}PARTIES_{sub}PUT_ERROR", path=pp.path + "/error",
                request_id=pp.path, now=now, params=pp.params,
            ),
            now=now,
        )
        hub.notify_outbox()
        return ack(OK)

    return [Route("/parties/{rest:path}", parties, methods=["GET", "PUT"])]
