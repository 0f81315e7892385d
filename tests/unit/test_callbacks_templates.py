"""Pure parts of callback delivery: URL templates, error routing, error messages, headers, backoff."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers

from mojahub.callbacks.dispatcher import backoff_s
from mojahub.callbacks.render import callback_version, undeliverable_error
from mojahub.callbacks.templates import (
    ERROR_ENDPOINT,
    UrlContext,
    error_endpoint_type,
    error_path,
    is_base_url_type,
    render_template,
    render_url,
)
from mojahub.fspiop.outbound import forward_headers, hub_headers
from mojahub.kernel.errors import ErrorCode

P = "FSPIOP_CALLBACK_URL_"
NOW = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def ctx(path: str, params: dict[str, str] | None = None, request_id: str | None = None) -> UrlContext:
    return UrlContext("payeefsp", path, params or {}, request_id)


def test_party_template_is_filled_from_params() -> None:
    url = render_url(
        "http://dfsp/parties/{{partyIdType}}/{{partyIdentifier}}/{{partySubIdOrType}}",
        P + "PARTIES_SUB_ID_GET",
        ctx("/parties/MSISDN/1/2", {"partyIdType": "IBAN", "partyIdentifier": "X9", "partySubIdOrType": "S"}),
    )
    assert url == "http://dfsp/parties/IBAN/X9/S"


def test_party_template_falls_back_to_the_path() -> None:
    url = render_url("http://dfsp/parties/{{partyIdType}}/{{partyIdentifier}}/error",
                     P + "PARTIES_PUT_ERROR", ctx("/parties/MSISDN/27713803912/error"))
    assert url == "http://dfsp/parties/MSISDN/27713803912/error"


def test_id_placeholders_default_to_the_request_id() -> None:
    assert render_url("http://d/transfers/{{transferId}}", P + "TRANSFER_PUT", ctx("/transfers/T1", request_id="T1")) \
        == "http://d/transfers/T1"
    assert render_url("http://d/bulkTransfers/{{id}}/error", P + "BULK_TRANSFER_ERROR",
                      ctx("/bulkTransfers/B1/error", request_id="B1")) == "http://d/bulkTransfers/B1/error"
    assert render_url("http://d/participants/{{requestId}}", P + "PARTICIPANT_BATCH_PUT",
                      ctx("/participants/R1", request_id="R1")) == "http://d/participants/R1"


def test_any_param_key_is_substituted_and_unknown_keys_render_empty() -> None:
    assert render_template("http://h/{{ currency }}/{{nope}}/x", {"currency": "XXX"}) == "http://h/XXX//x"


@pytest.mark.parametrize(
    "endpoint_type",
    [P + "QUOTES", P + "BULK_QUOTES", P + "TRX_REQ_SERVICE", P + "AUTHORIZATIONS", P + "FX_QUOTES",
     "TP_CB_URL_CONSENT_POST", "TP_CB_URL_TRANSACTION_REQUEST_PUT_ERROR"],
)
def test_base_url_types_get_the_path_appended(endpoint_type: str) -> None:
    assert is_base_url_type(endpoint_type)
    assert render_url("http://dfsp:4040/base/", endpoint_type, ctx("/quotes/Q1/error")) == \
        "http://dfsp:4040/base/quotes/Q1/error"


def test_path_templates_do_not_get_the_path_appended() -> None:
    assert not is_base_url_type(P + "TRANSFER_POST")
    assert render_url("http://dfsp/transfers", P + "TRANSFER_POST", ctx("/transfers")) == "http://dfsp/transfers"


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (P + "PARTIES_GET", P + "PARTIES_PUT_ERROR"),
        (P + "PARTIES_SUB_ID_GET", P + "PARTIES_SUB_ID_PUT_ERROR"),
        (P + "PARTICIPANT_PUT", P + "PARTICIPANT_PUT_ERROR"),
        (P + "QUOTES", P + "QUOTES"),
        (P + "TRANSFER_POST", P + "TRANSFER_ERROR"),
        (P + "BULK_TRANSFER_PUT", P + "BULK_TRANSFER_ERROR"),
        (P + "FX_TRANSFER_POST", P + "FX_TRANSFER_ERROR"),
        ("TP_CB_URL_TRANSACTION_REQUEST_POST", "TP_CB_URL_TRANSACTION_REQUEST_PUT_ERROR"),
        ("TP_CB_URL_TRANSACTION_REQUEST_AUTH_PUT", "TP_CB_URL_TRANSACTION_REQUEST_AUTH_PUT_ERROR"),
        ("TP_CB_URL_CONSENT_PATCH", "TP_CB_URL_CONSENT_PUT_ERROR"),
        ("TP_CB_URL_SERVICES_GET", "TP_CB_URL_SERVICES_PUT_ERROR"),
        ("ALARM_NOTIFICATION_URL", None),
    ],
)
def test_error_endpoint_of_each_type(source: str, target: str | None) -> None:
    assert error_endpoint_type(source) == target


def test_every_error_endpoint_is_itself_routable() -> None:
    for target in ERROR_ENDPOINT.values():
        assert error_endpoint_type(target) == target


@pytest.mark.parametrize(
    ("method", "path", "params", "request_id", "expected"),
    [
        ("GET", "/parties/MSISDN/1", {}, None, "/parties/MSISDN/1/error"),
        ("POST", "/transfers", {"transferId": "T9"}, "T9", "/transfers/T9/error"),
        ("POST", "/quotes", {}, "Q7", "/quotes/Q7/error"),
        ("PUT", "/quotes/Q7", {}, "Q7", "/quotes/Q7/error"),
        ("PUT", "/quotes/Q7/error", {}, "Q7", "/quotes/Q7/error"),
    ],
)
def test_error_path(method: str, path: str, params: dict[str, str], request_id: str | None, expected: str) -> None:
    assert error_path(method, path, params, request_id) == expected


def test_callback_version_follows_the_origin() -> None:
    assert callback_version({"content-type": "application/vnd.interoperability.quotes+json;version=1.1"}) == "1.1"
    assert callback_version({"Accept": "application/vnd.interoperability.parties+json;version=1"}) == "1.0"
    assert callback_version({}) == "2.0"


def test_undeliverable_forward_becomes_an_error_callback_to_the_origin() -> None:
    msg = undeliverable_error(
        recipient="payeefsp", endpoint_type=P + "TRANSFER_POST", method="POST", path="/transfers",
        params={}, headers={"Content-Type": "application/vnd.interoperability.transfers+json;version=2.0"},
        request_id="T1", origin="payerfsp", code=ErrorCode.DESTINATION_FSP_ERROR,
        detail="payeefsp has no endpoint", hub_name="Hub", now=NOW,
    )
    assert msg is not None
    assert (msg.recipient, msg.endpoint_type, msg.method, msg.path) == \
        ("payerfsp", P + "TRANSFER_ERROR", "PUT", "/transfers/T1/error")
    assert msg.params["transferId"] == "T1"
    assert msg.origin is None
    assert orjson.loads(msg.body or b"") == {"errorInformation": {
        "errorCode": "3201", "errorDescription": "Destination FSP Error - payeefsp has no endpoint"}}
    assert msg.headers["FSPIOP-Source"] == "Hub"
    assert msg.headers["FSPIOP-Destination"] == "payerfsp"
    assert "Accept" not in msg.headers


@pytest.mark.parametrize(
    ("origin", "endpoint_type", "path"),
    [
        (None, P + "TRANSFER_PUT", "/transfers/T1"),  # hub-originated: nobody to tell
        ("Hub", P + "TRANSFER_PUT", "/transfers/T1"),
        ("payerfsp", P + "TRANSFER_ERROR", "/transfers/T1/error"),  # never an error about an error
        ("payerfsp", "ALARM_NOTIFICATION_URL", "/alarm"),  # no FSPIOP error route
    ],
)
def test_no_error_callback_when_there_is_nobody_to_tell(origin: str | None, endpoint_type: str, path: str) -> None:
    assert undeliverable_error(
        recipient="payeefsp", endpoint_type=endpoint_type, method="PUT", path=path, params={}, headers={},
        request_id="T1", origin=origin, code=ErrorCode.DESTINATION_COMMUNICATION_ERROR, detail="x",
        hub_name="Hub", now=NOW,
    ) is None


def test_hub_headers_have_no_accept_and_name_uri_and_method() -> None:
    h = hub_headers(resource="transfers", destination="payerfsp", method="put", path="/transfers/T1",
                    hub_name="Hub", now=NOW)
    assert h == {
        "Content-Type": "application/vnd.interoperability.transfers+json;version=2.0",
        "Date": "Fri, 02 Jan 2026 03:04:05 GMT",
        "FSPIOP-Source": "Hub",
        "FSPIOP-Destination": "payerfsp",
        "FSPIOP-URI": "/transfers/T1",
        "FSPIOP-HTTP-Method": "PUT",
    }


def test_forward_headers_keep_the_senders_headers_exactly() -> None:
    original = Headers(raw=[
        (b"content-type", b"application/vnd.interoperability.transfers+json;version=1.0"),
        (b"date", b"Tue, 15 Nov 1994 08:12:31 GMT"),
        (b"fspiop-source", b"payerfsp"),
        (b"fspiop-signature", b'{"signature":"s"}'),
        (b"authorization", b"Bearer secret"),
        (b"content-length", b"12"),
    ])
    out = forward_headers(original, destination="payeefsp")
    assert out == {
        "Content-Type": "application/vnd.interoperability.transfers+json;version=1.0",
        "Date": "Tue, 15 Nov 1994 08:12:31 GMT",
        "FSPIOP-Source": "payerfsp",
        "FSPIOP-Destination": "payeefsp",
        "FSPIOP-Signature": '{"signature":"s"}',
    }
    with_dest = Headers(raw=[(b"fspiop-destination", b"other"), (b"fspiop-source", b"a")])
    assert forward_headers(with_dest, destination="payeefsp")["FSPIOP-Destination"] == "other"


@given(attempt=st.integers(min_value=1, max_value=200), base=st.floats(0.01, 5), cap=st.floats(0.01, 60))
def test_backoff_grows_and_never_exceeds_the_bound(attempt: int, base: float, cap: float) -> None:
    delay = backoff_s(attempt, base, cap)
    assert 0 < delay <= cap
    assert delay <= backoff_s(attempt + 1, base, cap)
    if attempt == 1:
        assert delay == min(base, cap)
