"""One callback base URL per DFSP expanded to every FSPIOP endpoint type with the URL templates
Mojaloop's provisioning uses (fspiop.md §9). Base-URL types get the bare base: the hub appends
the FSPIOP path when it calls out."""

from __future__ import annotations

P = "FSPIOP_CALLBACK_URL_"
_PARTY = "{{partyIdType}}/{{partyIdentifier}}"
_SUB = _PARTY + "/{{partySubIdOrType}}"

# endpoint type -> path appended to the base URL ("" for base-URL types)
TEMPLATES: dict[str, str] = {
    P + "PARTICIPANT_PUT": f"/participants/{_PARTY}",
    P + "PARTICIPANT_PUT_ERROR": f"/participants/{_PARTY}/error",
    P + "PARTICIPANT_SUB_ID_PUT": f"/participants/{_SUB}",
    P + "PARTICIPANT_SUB_ID_PUT_ERROR": f"/participants/{_SUB}/error",
    P + "PARTICIPANT_DELETE": f"/participants/{_PARTY}",
    P + "PARTICIPANT_SUB_ID_DELETE": f"/participants/{_SUB}",
    P + "PARTICIPANT_BATCH_PUT": "/participants/{{requestId}}",
    P + "PARTICIPANT_BATCH_PUT_ERROR": "/participants/{{requestId}}/error",
    P + "PARTIES_GET": f"/parties/{_PARTY}",
    P + "PARTIES_SUB_ID_GET": f"/parties/{_SUB}",
    P + "PARTIES_PUT": f"/parties/{_PARTY}",
    P + "PARTIES_SUB_ID_PUT": f"/parties/{_SUB}",
    P + "PARTIES_PUT_ERROR": f"/parties/{_PARTY}/error",
    P + "PARTIES_SUB_ID_PUT_ERROR": f"/parties/{_SUB}/error",
    P + "QUOTES": "",
    P + "BULK_QUOTES": "",
    P + "TRX_REQ_SERVICE": "",
    P + "AUTHORIZATIONS": "",
    P + "TRANSFER_POST": "/transfers",
    P + "TRANSFER_PUT": "/transfers/{{transferId}}",
    P + "TRANSFER_ERROR": "/transfers/{{transferId}}/error",
    P + "BULK_TRANSFER_POST": "/bulkTransfers",
    P + "BULK_TRANSFER_PUT": "/bulkTransfers/{{id}}",
    P + "BULK_TRANSFER_ERROR": "/bulkTransfers/{{id}}/error",
    P + "FX_QUOTES": "",
    P + "FX_TRANSFER_POST": "/fxTransfers",
    P + "FX_TRANSFER_PUT": "/fxTransfers/{{commitRequestId}}",
    P + "FX_TRANSFER_ERROR": "/fxTransfers/{{commitRequestId}}/error",
}


def expand(base_url: str) -> dict[str, str]:
    """Every FSPIOP callback endpoint of a DFSP whose FSPIOP server lives at ``base_url``."""
    base = base_url.rstrip("/")
    return {endpoint_type: base + path for endpoint_type, path in TEMPLATES.items()}
