"""The raw HTTP ceiling's endpoint: the cheapest ASGI app that answers a small JSON body.

``uvicorn bench.ceiling_app:app`` with the hub's worker count; wrk measures its requests/s (R).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

BODY = b'{"status":"OK"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
