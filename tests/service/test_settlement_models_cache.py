"""The per-process settlement model cache used at every commit: a change is seen after the TTL or
at once after ``forget_settlement_models``; each database has its own entry."""

from __future__ import annotations

import pytest

from mojahub.settlement import service
from mojahub.storage.engine import Database
from tests.support.settlement_builders import deferred_net_model, gross_model


async def test_models_are_cached_until_forgotten_or_expired(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    service.forget_settlement_models()
    async with db.write() as conn:
        await deferred_net_model(conn, "DEFERREDNET", "XXX")
    async with db.read() as conn:
        first = await service._active_models(conn)
    assert [m.name for m in first] == ["DEFERREDNET"]
    async with db.write() as conn:
        await gross_model(conn, "CGS", "INR")
    async with db.read() as conn:
        assert [m.name for m in await service._active_models(conn)] == ["DEFERREDNET"]  # cached
    service.forget_settlement_models()
    async with db.read() as conn:
        assert [m.name for m in await service._active_models(conn)] == ["DEFERREDNET", "CGS"]
    monkeypatch.setattr(service, "MODELS_CACHE_S", 0.0)  # entries expire at once from now on
    service.forget_settlement_models()
    async with db.read() as conn:
        await service._active_models(conn)
    async with db.write() as conn:
        await deferred_net_model(conn, "OTHER", "EUR")
    async with db.read() as conn:
        assert [m.name for m in await service._active_models(conn)] == ["DEFERREDNET", "CGS", "OTHER"]
