"""FSPIOP bodies and path parameters of the ALS resources (``/participants``, ``/parties``),
plus the common complex types they share with quotes (Party, Money, ExtensionList,
ErrorInformation). Spec: FSPIOP v1.1 OpenAPI (reference fspiop.md §4-§6), with the 3PPI party id
types (CONSENT, THIRD_PARTY_LINK) accepted too.

Models are compiled once (module-level ``TypeAdapter``s). Unknown properties are tolerated
(reference conformance-notes §0); a wrong JSON type is 3101, a missing field 3102, a value failing
its pattern/enum/length 3100 (``fspiop.body``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter
from pydantic_core import PydanticCustomError

from mojahub.kernel.currencies import CURRENCIES
from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.kernel.ids import ULID_RE, UUID_RE
from mojahub.kernel.money import FSPIOP_AMOUNT_RE

PARTY_ID_TYPES: tuple[str, ...] = (
    "MSISDN", "EMAIL", "PERSONAL_ID", "BUSINESS", "DEVICE", "ACCOUNT_ID", "IBAN", "ALIAS",
    # Third-party API (3PPI v1.0) additions.
    "CONSENT", "THIRD_PARTY_LINK",
)
PartyIdType = Literal[
    "MSISDN", "EMAIL", "PERSONAL_ID", "BUSINESS", "DEVICE", "ACCOUNT_ID", "IBAN", "ALIAS",
    "CONSENT", "THIRD_PARTY_LINK",
]

_DATE = (
    r"(?:[1-9]\d{3}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
    r"|(?:[1-9]\d(?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[13579][26])00)-02-29)"
)
DATE_PATTERN = rf"^{_DATE}$"
DATETIME_PATTERN = rf"^{_DATE}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:(\.\d{{3}}))(?:Z|[+-][01]\d:[0-5]\d)$"
# FSPIOP v1.1 UUID (lower-case) or ULID: every id on every version (reference fspiop.md §6).
CORRELATION_ID_PATTERN = f"(?:{UUID_RE.pattern[1:-1]})|(?:{ULID_RE.pattern[1:-1]})"
CORRELATION_ID_RE = re.compile(f"^(?:{CORRELATION_ID_PATTERN})$")
NAME_PATTERN = r"^(?!\s*$)[\w .,'-]{1,128}$"


def _currency(value: str) -> str:
    if value not in CURRENCIES:
        raise PydanticCustomError("currency", "must be equal to one of the allowed values (ISO 4217 currency)")
    return value


CorrelationId = Annotated[str, Field(pattern=f"^(?:{CORRELATION_ID_PATTERN})$")]
Currency = Annotated[str, AfterValidator(_currency)]
Amount = Annotated[str, Field(pattern=FSPIOP_AMOUNT_RE.pattern)]
FspId = Annotated[str, Field(min_length=1, max_length=32)]
DateTime = Annotated[str, Field(pattern=DATETIME_PATTERN)]
IlpCondition = Annotated[str, Field(pattern=r"^[A-Za-z0-9-_]{43}$", max_length=48)]
IlpPacket = Annotated[str, Field(pattern=r"^[A-Za-z0-9-_]+[=]{0,2}$", min_length=1, max_length=32768)]
ErrorCodeText = Annotated[str, Field(pattern=r"^[1-9]\d{3}$")]
Latitude = Annotated[
    str, Field(pattern=r"^(\+|-)?(?:90(?:(?:\.0{1,6})?)|(?:[0-9]|[1-8][0-9])(?:(?:\.[0-9]{1,6})?))$")
]
Longitude = Annotated[
    str,
    Field(pattern=r"^(\+|-)?(?:180(?:(?:\.0{1,6})?)|(?:[0-9]|[1-9][0-9]|1[0-7][0-9])(?:(?:\.[0-9]{1,6})?))$"),
]
Text128 = Annotated[str, Field(min_length=1, max_length=128)]
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=NAME_PATTERN)]


class Body(BaseModel):
    """Base of every FSPIOP body model: unknown properties tolerated; Python regex engine for the
    spec's look-ahead patterns."""

    model_config = ConfigDict(extra="allow", regex_engine="python-re", frozen=True)


class Extension(Body):
    key: Annotated[str, Field(min_length=1, max_length=32)]
    value: Text128


class ExtensionList(Body):
    extension: Annotated[list[Extension], Field(min_length=1, max_length=16)]


class Money(Body):
    currency: Currency
    amount: Amount


class PartyIdInfo(Body):
    partyIdType: PartyIdType
    partyIdentifier: Text128
    partySubIdOrType: Text128 | None = None
    fspId: FspId | None = None
    extensionList: ExtensionList | None = None


class PartyComplexName(Body):
    firstName: Name | None = None
    middleName: Name | None = None
    lastName: Name | None = None


class PartyPersonalInfo(Body):
    complexName: PartyComplexName | None = None
    dateOfBirth: Annotated[str, Field(pattern=DATE_PATTERN)] | None = None


class Party(Body):
    partyIdInfo: PartyIdInfo
    merchantClassificationCode: Annotated[str, Field(pattern=r"^[\d]{1,4}$")] | None = None
    name: Text128 | None = None
    personalInfo: PartyPersonalInfo | None = None


class ErrorInformation(Body):
    errorCode: ErrorCodeText
    errorDescription: Text128
    extensionList: ExtensionList | None = None


class ErrorInformationObject(Body):
    errorInformation: ErrorInformation


# -- /participants -------------------------------------------------------------------------------


class ParticipantsTypeIdPost(Body):
    """``POST /participants/{Type}/{ID}[/{SubId}]``"""

    fspId: FspId
    currency: Currency | None = None
    extensionList: ExtensionList | None = None


class ParticipantsPost(Body):
    """``POST /participants`` (batch)"""

    requestId: CorrelationId
    partyList: Annotated[list[PartyIdInfo], Field(min_length=1, max_length=10_000)]
    currency: Currency | None = None


class ParticipantsTypeIdPut(Body):
    """``PUT /participants/{Type}/{ID}[/{SubId}]`` (callback)"""

    fspId: FspId | None = None
    extensionList: ExtensionList | None = None


class PartyResult(Body):
    partyId: PartyIdInfo
    errorInformation: ErrorInformation | None = None


class ParticipantsIdPut(Body):
    """``PUT /participants/{requestId}`` (batch callback)"""

    partyList: Annotated[list[PartyResult], Field(min_length=1, max_length=10_000)]
    currency: Currency | None = None


# -- /parties ------------------------------------------------------------------------------------


class PartiesTypeIdPut(Body):
    """``PUT /parties/{Type}/{ID}[/{SubId}]`` (callback)"""

    party: Party


PARTICIPANTS_TYPE_ID_POST: TypeAdapter[ParticipantsTypeIdPost] = TypeAdapter(ParticipantsTypeIdPost)
PARTICIPANTS_POST: TypeAdapter[ParticipantsPost] = TypeAdapter(ParticipantsPost)
PARTICIPANTS_TYPE_ID_PUT: TypeAdapter[ParticipantsTypeIdPut] = TypeAdapter(ParticipantsTypeIdPut)
PARTICIPANTS_ID_PUT: TypeAdapter[ParticipantsIdPut] = TypeAdapter(ParticipantsIdPut)
PARTIES_TYPE_ID_PUT: TypeAdapter[PartiesTypeIdPut] = TypeAdapter(PartiesTypeIdPut)
ERROR_INFORMATION_OBJECT: TypeAdapter[ErrorInformationObject] = TypeAdapter(ErrorInformationObject)


# -- path parameters -----------------------------------------------------------------------------


def check_party_path(party_id_type: str, party_identifier: str, party_sub_id: str | None) -> None:
    """Validate ``{Type}/{ID}[/{SubId}]`` of a party path (already percent-decoded)."""
    if party_id_type not in PARTY_ID_TYPES:
        raise HubError(ErrorCode.VALIDATION_ERROR, "/params/Type must be equal to one of the allowed values")
    if not 1 <= len(party_identifier) <= 128:
        raise HubError(ErrorCode.VALIDATION_ERROR, "/params/ID must be 1 to 128 characters")
    if party_sub_id is not None and not 1 <= len(party_sub_id) <= 128:
        raise HubError(ErrorCode.VALIDATION_ERROR, "/params/SubId must be 1 to 128 characters")


def check_correlation_id(value: str, name: str = "ID") -> None:
    if not CORRELATION_ID_RE.match(value):
        raise HubError(ErrorCode.VALIDATION_ERROR, f"/params/{name} must be a UUID or a ULID")


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)
