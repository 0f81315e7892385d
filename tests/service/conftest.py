"""Fixtures shared by the service tests: loopback DFSP servers that record what the hub sends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.dfsp import DfspServer


@pytest.fixture
async def payer() -> AsyncIterator[DfspServer]:
    async with DfspServer("payer") as server:
        yield server


@pytest.fixture
async def payee() -> AsyncIterator[DfspServer]:
    async with DfspServer("payee") as server:
        yield server
