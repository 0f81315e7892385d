"""Client of the ALS Oracle REST API (reference admin-api.md §6.3): synchronous
``GET/POST/PUT/DELETE {oracle}/participants/{Type}/{ID}`` against oracles registered with
``POST /oracles``.

One pooled aiohttp session per process (created on first use, closed with the hub), every call
bounded by ``oracle_timeout_s``. A call that gets no oracle answer — connection refused, timeout,
a non-2xx status, a body that is not ``{"partyList": [...]}`` — returns None and the caller falls
back to the built-in oracle (the TTK registers a URL that implements no oracle API,
conformance-notes §0 "Oracle").
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import structlog

from mojahub.lookup.model import OracleEntry, PartyKey

log = structlog.get_logger(__name__)


def _participants_url(base: str, key: PartyKey) -> str:
    return (
        f"{base.rstrip('/')}/participants/{quote(key.party_id_type, safe='')}/"
        f"{quote(key.party_identifier, safe='')}"
    )


def parse_party_list(payload: Any) -> list[OracleEntry] | None:
    """Entries of an oracle ``GET`` answer, or None when the payload is not an oracle answer."""
    if not isinstance(payload, dict) or not isinstance(payload.get("partyList"), list):
        return None
    entries: list[OracleEntry] = []
    for item in payload["partyList"]:
        if not isinstance(item, dict) or not isinstance(item.get("fspId"), str) or not item["fspId"]:
            return None
        currency = item.get("currency")
        sub_id = item.get("partySubIdOrType")
        entries.append(
            OracleEntry(
                fsp_id=item["fspId"],
                currency=currency if isinstance(currency, str) else None,
                party_sub_id=sub_id if isinstance(sub_id, str) and sub_id else None,
            )
        )
    return entries


class OracleClient:
    def __init__(self, *, timeout_s: float, connections: int = 64, hub_name: str = "Hub") -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._connections = connections
        self._hub_name = hub_name
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._connections),
            )
        return self._session

    def _headers(self) -> dict[str, str]:
        return {"Accept": "application/json", "Content-Type": "application/json", "FSPIOP-Source": self._hub_name}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, method: str, url: str, *, params: dict[str, str] | None = None,
                    body: dict[str, Any] | None = None) -> tuple[int, bytes] | None:
        try:
            async with self._http().request(
                method,
                url,
                params=params or None,
                data=orjson.dumps(body) if body is not None else None,
                headers=self._headers(),
            ) as resp:
                return resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("oracle.unreachable", method=method, url=url, error=repr(exc))
            return None

    async def lookup(self, base: str, key: PartyKey, currency: str | None) -> list[OracleEntry] | None:
        params: dict[str, str] = {}
        if currency is not None:
            params["currency"] = currency
        if key.party_sub_id is not None:
            params["partySubIdOrType"] = key.party_sub_id
        url = _participants_url(base, key)
        answer = await self._call("GET", url, params=params)
        if answer is None:
            return None
        status, raw = answer
        if status != 200:
            log.info("oracle.no_answer", url=url, status=status)
            return None
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.info("oracle.not_json", url=url)
            return None
        entries = parse_party_list(payload)
        if entries is None:
            log.info("oracle.not_an_oracle_answer", url=url)
        return entries

    async def register(self, base: str, key: PartyKey, fsp_id: str, currency: str | None) -> bool:
        body: dict[str, Any] = {"fspId": fsp_id}
        if currency is not None:
            body["currency"] = currency
        if key.party_sub_id is not None:
            body["partySubIdOrType"] = key.party_sub_id
        answer = await self._call("POST", _participants_url(base, key), body=body)
        return answer is not None and 200 <= answer[0] < 300

    async def remove(self, base: str, key: PartyKey) -> bool:
        params = {"partySubIdOrType": key.party_sub_id} if key.party_sub_id is not None else None
        answer = await self._call("DELETE", _participants_url(base, key), params=params)
        return answer is not None and 200 <= answer[0] < 300
