"""FSPIOP request header validation (central-services-shared ``headerValidation`` behaviour).

Order and codes follow what Mojaloop's collections assert (reference fspiop.md §2.1/§2.1a):
headers are checked before the body; a missing header is 3102, a header not matching its pattern
is 3101, an unsupported version is 406/3001 with the supported versions as extensions. Header names
appear in lower case in the error description.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.kernel.timefmt import HTTP_DATE_RE

DEFAULT_VERSIONS: tuple[str, ...] = ("1.0", "1.1", "2.0")
_GENERIC_ACCEPT = frozenset({"*/*", "application/*", "application/json"})


@dataclass(frozen=True, slots=True)
class FspiopHeaders:
    resource: str
    source: str
    destination: str | None
    content_type: str | None
    content_version: str | None  # "major.minor" of Content-Type, None when there is no body
    accept: str | None
    date: str
    raw: Mapping[str, str]


def _content_type_re(resource: str) -> re.Pattern[str]:
    return re.compile(
        rf"^application/vnd\.interoperability\.{re.escape(resource)}\+json\s?;\s?version=(\d+\.\d+)$"
    )


def _accept_item_re(resource: str) -> re.Pattern[str]:
    return re.compile(
        rf"^application/vnd\.interoperability\.{re.escape(resource)}\+json(\s?;\s?version=(\d+)(\.(\d+))?)?$"
    )


def _version_extensions(versions: tuple[str, ...]) -> list[tuple[str, str]]:
    return [tuple(v.split(".", 1)) for v in versions]  # type: ignore[misc]


def _unacceptable(versions: tuple[str, ...], what: str) -> HubError:
    return HubError(
        ErrorCode.UNACCEPTABLE_VERSION,
        f"The Client requested an unsupported version, see extension list for supported version(s) - {what}",
        extensions=_version_extensions(versions),
    )


def check_accept(resource: str, accept: str, versions: tuple[str, ...]) -> None:
    pattern = _accept_item_re(resource)
    requested: list[tuple[str, str | None]] = []
    for item in accept.split(","):
        m = pattern.match(item.strip())
        if not m:
            raise HubError(ErrorCode.MALFORMED_SYNTAX, "Invalid accept header")
        requested.append((m.group(2), m.group(4)) if m.group(2) else ("*", None))
    for major, minor in requested:
        if major == "*":
            return
        for v in versions:
            v_major, v_minor = v.split(".", 1)
            if v_major == major and (minor is None or minor == v_minor):
                return
    raise _unacceptable(versions, "accept")


def validate_headers(
    resource: str,
    method: str,
    headers: Mapping[str, str],
    *,
    has_body: bool,
    require_destination: bool = False,
    versions: tuple[str, ...] = DEFAULT_VERSIONS,
) -> FspiopHeaders:
    """Validate the FSPIOP headers of one request. ``headers`` must be case-insensitive (Starlette's)."""
    method = method.upper()
    accept = headers.get("accept")
    if method in ("GET", "POST", "DELETE") and (accept is None or accept.strip() == ""):
        raise HubError(ErrorCode.MISSING_ELEMENT, "/header must have required property 'accept'")
    # Callbacks (PUT/PATCH) answer with no body, so a generic HTTP client's default Accept
    # (e.g. aiohttp's "*/*") is tolerated there; an FSPIOP media type is still checked.
    if accept and not (method in ("PUT", "PATCH") and accept.strip() in _GENERIC_ACCEPT):
        check_accept(resource, accept, versions)

    content_type = headers.get("content-type")
    content_version: str | None = None
    if has_body or method in ("POST", "PUT", "PATCH"):
        if content_type is None or content_type.strip() == "":
            raise HubError(ErrorCode.MISSING_ELEMENT, "/header must have required property 'content-type'")
        m = _content_type_re(resource).match(content_type.strip())
        if not m:
            raise HubError(ErrorCode.MALFORMED_SYNTAX, "/header/content-type must match the FSPIOP media type")
        content_version = m.group(1)
        if content_version not in versions:
            raise _unacceptable(versions, "content-type")
    elif content_type:
        m = _content_type_re(resource).match(content_type.strip())
        content_version = m.group(1) if m else None

    date = headers.get("date")
    if date is None or date.strip() == "":
        raise HubError(ErrorCode.MISSING_ELEMENT, "/header must have required property 'date'")
    if not HTTP_DATE_RE.match(date.strip()):
        raise HubError(ErrorCode.MALFORMED_SYNTAX, "/header/date must be an RFC 7231 date")

    source = headers.get("fspiop-source")
    if source is None or source.strip() == "":
        raise HubError(ErrorCode.MISSING_ELEMENT, "/header must have required property 'fspiop-source'")
    if len(source) > 32:
        raise HubError(ErrorCode.MALFORMED_SYNTAX, "/header/fspiop-source must NOT have more than 32 characters")

    destination = headers.get("fspiop-destination")
    if destination is not None and destination.strip() == "":
        destination = None
    if require_destination and destination is None:
        raise HubError(ErrorCode.MISSING_ELEMENT, "/header must have required property 'fspiop-destination'")
    if destination is not None and len(destination) > 32:
        raise HubError(
            ErrorCode.MALFORMED_SYNTAX, "/header/fspiop-destination must NOT have more than 32 characters"
        )

    return FspiopHeaders(
        resource=resource,
        source=source,
        destination=destination,
        content_type=content_type,
        content_version=content_version,
        accept=accept,
        date=date,
        raw=headers,
    )


# Headers the hub forwards unchanged when it passes a DFSP's message on (ARCHITECTURE: byte-for-byte
# pass-through so end-to-end JWS signatures stay valid).
FORWARDED_HEADERS: tuple[str, ...] = (
    "content-type",
    "accept",
    "date",
    "fspiop-source",
    "fspiop-destination",
    "fspiop-encryption",
    "fspiop-signature",
    "fspiop-uri",
    "fspiop-http-method",
    "traceparent",
    "tracestate",
    "x-forwarded-for",
)


def forwardable(headers: Mapping[str, str]) -> dict[str, str]:
    """The subset of a request's headers that travels with it when the hub forwards it."""
    out: dict[str, str] = {}
    for name in FORWARDED_HEADERS:
        value = headers.get(name)
        if value is not None:
            out[name] = value
    return out


def content_type(resource: str, version: str) -> str:
    return f"application/vnd.interoperability.{resource}+json;version={version}"


def accept_header(resource: str, major: str = "1") -> str:
    return f"application/vnd.interoperability.{resource}+json;version={major}"
