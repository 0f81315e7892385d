"""FSPIOP header validation: the codes and descriptions Mojaloop's quotes_negative collection asserts."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from mojahub.fspiop.headers import validate_headers
from mojahub.kernel.errors import HubError

GOOD = {
    "content-type": "application/vnd.interoperability.quotes+json;version=1.0",
    "accept": "application/vnd.interoperability.quotes+json;version=1",
    "date": "Tue, 15 Nov 1994 08:12:31 GMT",
    "fspiop-source": "payerfsp",
    "fspiop-destination": "payeefsp",
}


def _check(method: str, headers: dict[str, str], **kw: object) -> HubError:
    with pytest.raises(HubError) as info:
        validate_headers("quotes", method, Headers(headers), has_body=True, **kw)  # type: ignore[arg-type]
    return info.value


def test_valid_headers_are_accepted_and_parsed() -> None:
    parsed = validate_headers("quotes", "POST", Headers(GOOD), has_body=True, require_destination=True)
    assert (parsed.source, parsed.destination, parsed.content_version) == ("payerfsp", "payeefsp", "1.0")


@pytest.mark.parametrize(
    ("missing", "code", "needle"),
    [
        ("fspiop-destination", "3102", "fspiop-destination"),
        ("content-type", "3102", "content-type"),
        ("accept", "3102", "accept"),
        ("date", "3102", "date"),
        ("fspiop-source", "3102", "fspiop"),
    ],
)
def test_a_missing_header_is_3102_naming_it_in_lower_case(missing: str, code: str, needle: str) -> None:
    headers = {k: v for k, v in GOOD.items() if k != missing}
    err = _check("POST", headers, require_destination=True)
    assert err.code.code == code
    assert needle in err.description


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("content-type", "application/json", "3101"),
        ("content-type", "application/vnd.interoperability.quotes+xml;version=5.0", "3101"),
        ("accept", "testAcceptText", "3101"),
        ("date", "12345", "3101"),
        ("content-type", "application/vnd.interoperability.quotes+json;version=9.9", "3001"),
        ("accept", "application/vnd.interoperability.quotes+json;version=7", "3001"),
    ],
)
def test_malformed_or_unsupported_headers(name: str, value: str, code: str) -> None:
    err = _check("POST", {**GOOD, name: value})
    assert err.code.code == code
    if code == "3001":
        assert err.http_status == 406
        assert ("1", "1") in err.extensions


def test_a_generic_accept_is_tolerated_on_callbacks_but_not_on_requests() -> None:
    headers = {**GOOD, "accept": "*/*"}
    parsed = validate_headers("quotes", "PUT", Headers(headers), has_body=True)
    assert parsed.accept == "*/*"
    assert _check("POST", headers).code.code == "3101"
