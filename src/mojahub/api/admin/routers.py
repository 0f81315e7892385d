"""The list of operator API routers (one line per context)."""

from __future__ import annotations

from fastapi import APIRouter

from mojahub.api.admin import health
from mojahub.api.admin import transactions as transactions_api
from mojahub.bootstrap import Hub


def all_routers(hub: Hub) -> list[APIRouter]:
    return [
        health.router(hub),
        transactions_api.router(hub),
    ]
