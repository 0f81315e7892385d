"""Health in Mojaloop's shape (central-services-health), with a real datastore check.

``GET /health`` on both ports: 200 ``{"status": "OK", ...}`` when every sub-service answers,
502 with ``"status": "DOWN"`` otherwise. The datastore check is a real ``SELECT 1`` bounded by
``health_timeout_s`` (a hung database must not hang the probe).
"""

from __future__ import annotations

import asyncio
import time

from prometheus_client import Gauge
from starlette.responses import JSONResponse

from mojahub import __version__
from mojahub.bootstrap import Hub
from mojahub.kernel.timefmt import format_iso

DATASTORE_UP = Gauge("moja_health_datastore_up", "1 when the last health check reached the database, else 0")
UPTIME = Gauge("moja_uptime_seconds", "Seconds since this hub process started (updated on health checks)")

HEALTH_TIMEOUT_S = 2.0


async def datastore_ok(hub: Hub, timeout_s: float = HEALTH_TIMEOUT_S) -> bool:
    try:
        return await asyncio.wait_for(hub.db.ping(), timeout_s)
    except TimeoutError:
        return False


async def health_response(hub: Hub) -> JSONResponse:
    db_ok = await datastore_ok(hub)
    DATASTORE_UP.set(1 if db_ok else 0)
    uptime = time.monotonic() - hub.started_monotonic
    UPTIME.set(uptime)
    services = [{"name": "datastore", "status": "OK" if db_ok else "DOWN"}]
    status = "OK" if db_ok else "DOWN"
    body = {
        "status": status,
        "uptime": round(uptime, 3),
        "startTime": format_iso(hub.started_at),
        "versionNumber": __version__,
        "services": services,
    }
    return JSONResponse(body, status_code=200 if db_ok else 502)
