"""The error callback the hub sends to a message's origin when the message cannot be delivered
(fspiop.md §10: no endpoint → 3201 Destination FSP Error; unreachable → 1001 Destination
communication error), as an outbox message."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

import orjson

from mojahub.callbacks.templates import error_endpoint_type, error_path, is_error_callback, resource_of
from mojahub.fspiop.outbound import HUB_CALLBACK_VERSION, hub_headers
from mojahub.kernel.errors import ErrorCode, describe, error_body
from mojahub.storage.outbox import OutboundMessage

_CT_VERSION = re.compile(r"version\s*=\s*(\d+)\.(\d+)")
_ACCEPT_VERSION = re.compile(r"version\s*=\s*(\d+)(?:\.(\d+))?")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lname = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lname), None)


def callback_version(headers: Mapping[str, str]) -> str:
    """The version the origin spoke: its Content-Type version, else the first version its Accept
    names, else the hub's default for hub-originated callbacks."""
    ct = _header(headers, "content-type")
    if ct and (m := _CT_VERSION.search(ct)):
        return f"{m.group(1)}.{m.group(2)}"
    accept = _header(headers, "accept")
    if accept and (m := _ACCEPT_VERSION.search(accept)):
        return f"{m.group(1)}.{m.group(2) or '0'}"
    return HUB_CALLBACK_VERSION


def undeliverable_error(
    *,
    recipient: str,
    endpoint_type: str,
    method: str,
    path: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    request_id: str | None,
    origin: str | None,
    code: ErrorCode,
    detail: str,
    hub_name: str,
    now: datetime,
) -> OutboundMessage | None:
    """``PUT {path}/error`` to ``origin`` about a message to ``recipient`` that could not be
    delivered; None when there is nobody to tell (no origin, the hub itself, an error callback
    — errors about errors are not sent — or a type without an FSPIOP error route)."""
    if origin is None or origin == hub_name:
        return None
    if is_error_callback(endpoint_type, path):
        return None
    target_type = error_endpoint_type(endpoint_type)
    if target_type is None:
        return None
    err_path = error_path(method, path, params, request_id)
    err_params = dict(params)
    ident = err_path.rstrip("/").rsplit("/", 2)[-2] if err_path.count("/") >= 2 else None
    if method.upper() == "POST" and ident:
        for key in ("transferId", "id", "ID"):
            err_params.setdefault(key, ident)
    body = orjson.dumps(error_body(code.code, describe(code, detail)))
    return OutboundMessage(
        recipient=origin,
        endpoint_type=target_type,
        method="PUT",
        path=err_path,
        headers=hub_headers(
            resource=resource_of(path),
            destination=origin,
            method="PUT",
            path=err_path,
            hub_name=hub_name,
            now=now,
            version=callback_version(headers),
        ),
        body=body,
        params=err_params,
        request_id=request_id,
        origin=None,
    )
