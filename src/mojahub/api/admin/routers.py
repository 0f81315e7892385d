"""The list of operator API routers (one line per context)."""

from __future__ import annotations

from fastapi import APIRouter

from mojahub.api.admin import callbacks as callbacks_api
from mojahub.api.admin import health
from mojahub.api.admin import misc as misc_api
from mojahub.api.admin import onboard as onboard_api
from mojahub.api.admin import oracles as oracles_api
from mojahub.api.admin import participants as participants_api
from mojahub.api.admin import settlement as settlement_api
from mojahub.api.admin import settlement_models as settlement_models_api
from mojahub.api.admin import transactions as transactions_api
from mojahub.bootstrap import Hub


def all_routers(hub: Hub) -> list[APIRouter]:
    return [
        health.router(hub),
        callbacks_api.router(hub),
        participants_api.router(hub),
        settlement_models_api.router(hub),
        settlement_api.router(hub),
        misc_api.router(hub),
        oracles_api.router(hub),
        transactions_api.router(hub),
        onboard_api.router(hub),
    ]
