"""HotRoutes (api/fspiop/app.py): hot routes answered without Starlette's router, with the same
error handlers; anything else (other paths, other methods) still reaches Starlette."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mojahub.api.errors import exception_handlers
from mojahub.api.fspiop.app import HotRoutes
from mojahub.kernel.errors import ErrorCode, HubError


async def _call(app: Any, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"content-length", str(len(body)).encode())], "http_version": "1.1",
             "scheme": "http", "server": ("127.0.0.1", 1), "client": ("127.0.0.1", 2), "root_path": ""}
    sent: list[dict[str, Any]] = []
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def _app() -> tuple[HotRoutes, list[str]]:
    calls: list[str] = []

    async def get_thing(request: Request) -> Response:
        thing = request.path_params["thing_id"]
        calls.append(f"hot {request.method} {thing}")
        if thing == "bad":
            raise HubError(ErrorCode.VALIDATION_ERROR, "bad thing")
        if thing == "bug":
            raise RuntimeError("a bug")
        return Response(status_code=202)

    async def other(_request: Request) -> Response:
        calls.append("starlette other")
        return Response(status_code=200)

    hot = [Route("/things/{thing_id}", get_thing, methods=["PUT"])]
    handlers = exception_handlers()
    app = Starlette(routes=[*hot, Route("/other", other, methods=["GET"])], exception_handlers=handlers)
    return HotRoutes(app, hot, handlers), calls


async def test_a_hot_route_is_served_with_its_path_parameters() -> None:
    app, calls = _app()
    status, _, _ = await _call(app, "PUT", "/things/t-1")
    assert status == 202
    assert calls == ["hot PUT t-1"]


async def test_hub_errors_and_bugs_become_fspiop_error_bodies() -> None:
    app, _ = _app()
    status, _, body = await _call(app, "PUT", "/things/bad")
    assert status == 400
    assert orjson.loads(body)["errorInformation"]["errorCode"] == "3100"
    status, _, body = await _call(app, "PUT", "/things/bug")
    assert status == 500
    assert orjson.loads(body)["errorInformation"]["errorCode"] == "2001"


async def test_other_paths_and_methods_fall_through_to_starlette() -> None:
    app, calls = _app()
    assert (await _call(app, "GET", "/other"))[0] == 200
    status, headers, body = await _call(app, "DELETE", "/things/t-1")
    assert status == 405
    assert "PUT" in headers["allow"]
    assert orjson.loads(body)["errorInformation"]["errorCode"] == "3000"
    status, _, body = await _call(app, "PUT", "/things/a/b")
    assert status == 404
    assert orjson.loads(body)["errorInformation"]["errorCode"] == "3002"
    assert calls == ["starlette other"]
