"""Health in Mojaloop's shape (central-services-health), with a real datastore check."""

from __future__ import annotations

import time

from starlette.responses import JSONResponse

from mojahub import __version__
from mojahub.bootstrap import Hub
from mojahub.kernel.timefmt import format_iso


async def health_response(hub: Hub) -> JSONResponse:
    db_ok = await hub.db.ping()
    services = [{"name": "datastore", "status": "OK" if db_ok else "DOWN"}]
    status = "OK" if db_ok else "DOWN"
    body = {
        "status": status,
        "uptime": round(time.monotonic() - hub.started_monotonic, 3),
        "startTime": format_iso(hub.started_at),
        "versionNumber": __version__,
        "services": services,
    }
    return JSONResponse(body, status_code=200 if db_ok else 502)
