"""The scheme file: what the hub should look like. Validated with pydantic before anything is
applied; every error names where in the file it is (``participants.1.currencies.0.netDebitCap``).

```yaml
currencies: [USD]
settlementModels:
  - {name: DEFERREDNET, settlementGranularity: NET, settlementInterchange: MULTILATERAL,
     settlementDelay: DEFERRED, currency: USD, requireLiquidityCheck: true,
     ledgerAccountType: POSITION, settlementAccountType: SETTLEMENT, autoPositionReset: true}
participants:
  - name: payerfsp
    callbackUrl: http://127.0.0.1:3710
    currencies: [{currency: USD, netDebitCap: 10000, initialFunds: 20000}]
```
Amounts are numbers (or numeric strings) with at most 4 decimals, held as integer units.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from mojahub.kernel.currencies import is_currency
from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.kernel.money import AmountError, number_to_units
from mojahub.participants.model import ALLOWED_SETTLEMENT_COMBINATIONS, ENDPOINT_TYPES


def _units(value: Any) -> int:
    if value is None:
        return 0
    try:
        return number_to_units(value)
    except AmountError as exc:
        raise ValueError(str(exc)) from exc


def _non_negative_units(value: Any) -> int:
    units = _units(value)
    if units < 0:
        raise ValueError("must not be negative")
    return units


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not is_currency(value):
        raise ValueError(f"{value!r} is not a supported ISO 4217 currency code")
    return value


Units = Annotated[int, BeforeValidator(_non_negative_units)]
SignedUnits = Annotated[int, BeforeValidator(_units)]
Currency = Annotated[str, BeforeValidator(_currency)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class SettlementModelSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9]{2,30}$")
    settlement_granularity: Literal["GROSS", "NET"] = Field(alias="settlementGranularity")
    settlement_interchange: Literal["BILATERAL", "MULTILATERAL"] = Field(alias="settlementInterchange")
    settlement_delay: Literal["IMMEDIATE", "DEFERRED"] = Field(alias="settlementDelay")
    currency: Currency | None = None
    require_liquidity_check: bool = Field(default=True, alias="requireLiquidityCheck")
    ledger_account_type: str = Field(default="POSITION", alias="ledgerAccountType")
    settlement_account_type: str = Field(default="SETTLEMENT", alias="settlementAccountType")
    auto_position_reset: bool = Field(default=True, alias="autoPositionReset")
    is_active: bool = Field(default=True, alias="isActive")

    @model_validator(mode="after")
    def _allowed_combination(self) -> SettlementModelSpec:
        combo = (self.settlement_delay, self.settlement_granularity, self.settlement_interchange)
        if combo not in ALLOWED_SETTLEMENT_COMBINATIONS:
            raise ValueError(f"{'/'.join(combo)} is not an allowed combination")
        return self


class ParticipantCurrency(_Strict):
    currency: Currency
    net_debit_cap: Units = Field(alias="netDebitCap")
    initial_position: SignedUnits = Field(default=0, alias="initialPosition")
    initial_funds: Units = Field(default=0, alias="initialFunds")


class ParticipantSpec(_Strict):
    name: str = Field(min_length=2, max_length=30, pattern=r"^[A-Za-z0-9_.-]+$")
    callback_url: str | None = Field(default=None, alias="callbackUrl", pattern=r"^https?://[^\s]+$",
                                     description="FSPIOP base URL, expanded to every callback endpoint type")
    endpoints: dict[str, str] = Field(default_factory=dict, description="explicit endpoints (override the expansion)")
    currencies: list[ParticipantCurrency] = Field(min_length=1)
    is_active: bool = Field(default=True, alias="isActive")

    @model_validator(mode="after")
    def _check(self) -> ParticipantSpec:
        unknown = sorted(set(self.endpoints) - set(ENDPOINT_TYPES))
        if unknown:
            raise ValueError(f"unknown endpoint type(s): {', '.join(unknown)}")
        seen = [c.currency for c in self.currencies]
        if len(seen) != len(set(seen)):
            raise ValueError("a currency is listed twice")
        return self


class Scheme(_Strict):
    currencies: list[Currency] = Field(min_length=1, description="hub accounts are created for each")
    settlement_models: list[SettlementModelSpec] = Field(default_factory=list, alias="settlementModels")
    participants: list[ParticipantSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_references(self) -> Scheme:
        names = [p.name for p in self.participants]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"participant(s) listed twice: {', '.join(dupes)}")
        models = [m.name for m in self.settlement_models]
        if len(models) != len(set(models)):
            raise ValueError("a settlement model is listed twice")
        for p in self.participants:
            for c in p.currencies:
                if c.currency not in self.currencies:
                    raise ValueError(f"participant {p.name} uses {c.currency}, which is not in 'currencies'")
        return self


def _describe(exc: ValidationError) -> str:
    """The first problem, with its place in the file (error descriptions are short in FSPIOP)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "scheme"
    message = str(first["msg"]).removeprefix("Value error, ")
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {message}{more}"


def parse_scheme(raw: bytes | str, *, source: str = "scheme") -> Scheme:
    """Parse YAML or JSON text into a validated ``Scheme``; HubError 3100/3101 naming the problem."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise HubError(ErrorCode.MALFORMED_SYNTAX, f"{source} is neither JSON nor YAML: {exc}"[:200],
                           http_status=400) from exc
    if not isinstance(data, dict):
        raise HubError(ErrorCode.MALFORMED_SYNTAX, f"{source} must be a mapping at the top level", http_status=400)
    try:
        return Scheme.model_validate(data)
    except ValidationError as exc:
        raise HubError(ErrorCode.VALIDATION_ERROR, f"{source}: {_describe(exc)}", http_status=400) from exc
