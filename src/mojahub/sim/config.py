"""Simulator configuration: who the DFSP is, its parties, where the hub is, and how it behaves.

Loaded from a YAML/JSON file (``mojahub sim --config``) or built in code (demo, tests).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field


class Mode(StrEnum):
    """What the payee side does with an incoming transfer (or quote)."""

    FULFIL = "fulfil"  # PUT /transfers/{id} COMMITTED with the right fulfilment
    RESERVE = "reserve"  # PUT /transfers/{id} RESERVED, then expect PATCH COMMITTED
    REJECT = "reject"  # PUT /transfers/{id}/error 5104
    WRONG_FULFILMENT = "wrong_fulfilment"  # COMMITTED with a fulfilment that does not match
    REJECT_QUOTE = "reject_quote"  # PUT /quotes/{id}/error 5101
    SILENT = "silent"  # accept (202) and never answer


class Behaviour(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Mode = Mode.FULFIL
    delay_ms: int = Field(default=0, ge=0, le=600_000, description="wait before every answer")


class Party(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id_type: str = Field(default="MSISDN", alias="idType")
    id_value: str = Field(alias="idValue", min_length=1, max_length=128)
    sub_id: str | None = Field(default=None, alias="subIdOrType")
    display_name: str | None = Field(default=None, alias="displayName", max_length=128)
    first_name: str | None = Field(default=None, alias="firstName", max_length=128)
    last_name: str | None = Field(default=None, alias="lastName", max_length=128)
    date_of_birth: str | None = Field(default=None, alias="dateOfBirth")
    # Overrides the DFSP's behaviour for transfers and quotes addressed to this party.
    behaviour: Behaviour | None = None


class SimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    fsp_id: str = Field(alias="fspId", min_length=1, max_length=32)
    hub_url: str = Field(default="http://127.0.0.1:3000", alias="hubUrl", description="hub FSPIOP base URL")
    currency: str = Field(default="USD", min_length=3, max_length=3)
    parties: list[Party] = Field(default_factory=list)
    secret: str = Field(default="mojahub-sim-secret", min_length=8, description="key of the fulfilment HMAC")
    ilp_prefix: str | None = Field(default=None, alias="ilpPrefix", description="default g.<fspId>")
    behaviour: Behaviour = Field(default_factory=Behaviour)
    auto_accept_party: bool = Field(default=True, alias="autoAcceptParty")
    auto_accept_quote: bool = Field(default=True, alias="autoAcceptQuote")
    fspiop_version: str = Field(default="1.1", alias="fspiopVersion", pattern=r"^\d\.\d$")
    callback_timeout_s: float = Field(default=30.0, gt=0, alias="callbackTimeoutS",
                                      description="how long the payer waits for each callback")
    transfer_expiry_s: float = Field(default=60.0, gt=0, alias="transferExpiryS")
    quote_expiry_s: float = Field(default=60.0, gt=0, alias="quoteExpiryS")
    request_timeout_s: float = Field(default=10.0, gt=0, alias="requestTimeoutS")
    max_connections: int = Field(default=64, ge=1, le=4096, alias="maxConnections")
    max_tracked_transfers: int = Field(default=10_000, ge=1, alias="maxTrackedTransfers",
                                       description="outbound transfers kept for GET; oldest dropped")

    @property
    def ilp_address_prefix(self) -> str:
        return self.ilp_prefix or f"g.{self.fsp_id.lower()}"

    def party(self, id_type: str, id_value: str, sub_id: str | None = None) -> Party | None:
        for p in self.parties:
            if p.id_type == id_type and p.id_value == id_value and p.sub_id == sub_id:
                return p
        return None

    def behaviour_for(self, id_type: str | None, id_value: str | None) -> Behaviour:
        if id_type and id_value:
            party = self.party(id_type, id_value)
            if party is not None and party.behaviour is not None:
                return party.behaviour
        return self.behaviour


def load_config(path: Path, **overrides: Any) -> SimConfig:
    text = path.read_text()
    data = orjson.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a simulator config must be a mapping")
    data.update({k: v for k, v in overrides.items() if v is not None})
    return SimConfig.model_validate(data)
