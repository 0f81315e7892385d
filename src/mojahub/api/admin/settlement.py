"""Settlement API v2 (central-settlement) under ``/v2`` on the operator port, plus settlement
reports (JSON or CSV).

Bodies follow the running central-settlement: window ids as ``settlementWindowId`` in window
resources and ``id`` inside a settlement, ids and amounts as JSON numbers (amounts written
exactly from hub units, never through a float). Errors are ``errorInformation`` with
central-settlement's texts, 3100 and HTTP 400 unless stated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from mojahub.bootstrap import Hub
from mojahub.kernel.errors import ErrorCode, HubError
from mojahub.kernel.money import format_amount
from mojahub.kernel.timefmt import format_iso
from mojahub.settlement import reports, settlements, windows
from mojahub.settlement.model import ABORTED, ACCOUNT_STATES, CLOSED, WINDOW_STATES
from mojahub.settlement.settlements import AccountResult, AccountUpdate, SettlementView
from mojahub.settlement.windows import ContentView, WindowView

CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
MAX_BODY_BYTES = 1_048_576


# --- rendering ----------------------------------------------------------------------------------


class RawNumber:
    """A JSON number written exactly as its text (amounts)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def amount(units: int) -> RawNumber:
    return RawNumber(("-" if units < 0 else "") + format_amount(abs(units)))


def encode(value: Any) -> str:
    if isinstance(value, RawNumber):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k) + ":" + encode(v) for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return json.dumps(value)


def json_response(value: Any, status: int = 200) -> Response:
    return Response(encode(value).encode(), status_code=status, media_type="application/json")


def _content_json(c: ContentView, *, in_settlement: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"id": c.id}
    if in_settlement:
        body["settlementWindowId"] = c.window_id
    body.update({
        "state": c.state, "ledgerAccountType": c.ledger_account_type, "currencyId": c.currency,
        "createdDate": format_iso(c.created_at), "changedDate": format_iso(c.changed_at),
    })
    if not in_settlement:
        body["settlementId"] = c.settlement_id
    return body


def window_json(w: WindowView) -> dict[str, Any]:
    return {
        "settlementWindowId": w.id, "state": w.state, "reason": w.reason,
        "createdDate": format_iso(w.created_at), "changedDate": format_iso(w.changed_at),
        "content": [_content_json(c, in_settlement=False) for c in w.content],
    }


def _settlement_window_json(w: WindowView, settlement_id: int) -> dict[str, Any]:
    return {
        "id": w.id, "state": w.state, "reason": w.reason,
        "createdDate": format_iso(w.created_at), "changedDate": format_iso(w.changed_at),
        "content": [_content_json(c, in_settlement=True) for c in w.content if c.settlement_id == settlement_id],
    }


def _account_json(a: settlements.AccountView) -> dict[str, Any]:
    body: dict[str, Any] = {"id": a.id, "state": a.state, "reason": a.reason}
    if a.external_reference is not None:
        body["externalReference"] = a.external_reference
    body["createdDate"] = format_iso(a.changed_at)
    body["netSettlementAmount"] = {"amount": amount(a.net_amount), "currency": a.currency}
    return body


def _participants_json(accounts: list[settlements.AccountView]) -> list[dict[str, Any]]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    for a in accounts:
        grouped.setdefault(a.participant_id, []).append(_account_json(a))
    return [{"id": pid, "accounts": accs} for pid, accs in grouped.items()]


def settlement_json(s: SettlementView, *, participant_id: int | None = None,
                    account_id: int | None = None) -> dict[str, Any]:
    accounts = [
        a for a in s.accounts
        if (participant_id is None or a.participant_id == participant_id) and (account_id is None or a.id == account_id)
    ]
    return {
        "id": s.id, "settlementModel": s.settlement_model, "state": s.state, "reason": s.reason,
        "createdDate": format_iso(s.created_at), "changedDate": format_iso(s.changed_at),
        "settlementWindows": [_settlement_window_json(w, s.id) for w in s.windows],
        "participants": _participants_json(accounts),
    }


def _result_json(r: AccountResult) -> dict[str, Any]:
    body: dict[str, Any] = {"id": r.account_id}
    if r.account is not None:
        body.update(_account_json(r.account))
    if r.error is not None:
        body["errorInformation"] = r.error.to_body()["errorInformation"]
    return body


def update_json(result: settlements.UpdateResult, groups: list[tuple[int, list[int]]]) -> dict[str, Any]:
    """PUT answer: the settlement, with ``participants`` as requested, each account's outcome."""
    body = settlement_json(result.settlement)
    it = iter(result.results)
    body["participants"] = [{"id": pid, "accounts": [_result_json(next(it)) for _ in idx]} for pid, idx in groups]
    return body


# --- parsing ------------------------------------------------------------------------------------


def _invalid(detail: str) -> HubError:
    return HubError(ErrorCode.VALIDATION_ERROR, detail)


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise HubError(ErrorCode.TOO_LARGE_PAYLOAD)
    try:
        data = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError as exc:
        raise HubError(ErrorCode.MALFORMED_SYNTAX, f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise HubError(ErrorCode.MALFORMED_SYNTAX, "body must be a JSON object")
    return data


def _id(value: Any, what: str) -> int:
    """Ids may arrive as numbers or numeric strings (the TTK templates them into strings)."""
    if isinstance(value, bool):
        raise _invalid(f"{what} must be a positive integer")
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return int(value)
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    raise _invalid(f"{what} must be a positive integer")


def _text(body: dict[str, Any], key: str, *, required: bool = True, max_len: int = 512) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise HubError(ErrorCode.MISSING_ELEMENT, f"\"{key}\" is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise _invalid(f"\"{key}\" must be a non-empty string")
    if len(value) > max_len:
        raise _invalid(f"\"{key}\" must be at most {max_len} characters")
    return value


def _time(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise _invalid(f"{what} must be an ISO 8601 date-time") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _currency(value: str | None) -> str | None:
    if value is not None and not CURRENCY_RE.match(value):
        raise _invalid("currency must be an ISO 4217 code")
    return value


def _account_updates(participant_id: int, accounts: Any, where: str) -> list[AccountUpdate]:
    if not isinstance(accounts, list):
        raise _invalid(f"{where} must be an array")
    out = []
    for i, acc in enumerate(accounts):
        if not isinstance(acc, dict):
            raise _invalid(f"{where}[{i}] must be an object")
        state = _text(acc, "state")
        if state not in ACCOUNT_STATES:
            raise _invalid(f"{where}[{i}].state must be one of {', '.join(ACCOUNT_STATES)}")
        out.append(AccountUpdate(
            participant_id, _id(acc.get("id"), f"{where}[{i}].id"), state, _text(acc, "reason"),
            _text(acc, "externalReference", required=False, max_len=256),
        ))
    return out


# --- routes -------------------------------------------------------------------------------------


def router(hub: Hub) -> APIRouter:
    r = APIRouter(prefix="/v2", tags=["settlement"])
    limit = hub.settings.page_size_max

    # Windows --------------------------------------------------------------------------------

    @r.get("/settlementWindows")
    async def list_windows(request: Request) -> Response:
        q = request.query_params
        state = q.get("state")
        if state is not None and state not in WINDOW_STATES:
            raise _invalid(f"state must be one of {', '.join(WINDOW_STATES)}")
        pid = q.get("participantId")
        flt = windows.WindowFilter(
            participant_id=_id(pid, "participantId") if pid is not None else None, state=state,
            from_time=_time(q.get("fromDateTime"), "fromDateTime"), to_time=_time(q.get("toDateTime"), "toDateTime"),
            currency=_currency(q.get("currency")),
        )
        known = ("participantId", "state", "fromDateTime", "toDateTime", "currency")
        describe = "{" + ",".join(f"{k}:{q[k]}" for k in known if k in q) + "}"
        async with hub.db.read() as conn:
            found = await windows.find_windows(conn, flt, limit=limit, describe=describe)
        return json_response([window_json(w) for w in found])

    @r.get("/settlementWindows/{window_id}")
    async def get_window(window_id: str) -> Response:
        wid = _id(window_id, "id")
        async with hub.db.read() as conn:
            return json_response(window_json(await windows.get_window(conn, wid)))

    @r.post("/settlementWindows/{window_id}")
    async def close_window(window_id: str, request: Request) -> Response:
        wid = _id(window_id, "id")
        body = await _json_body(request)
        state = _text(body, "state")
        reason = _text(body, "reason")
        assert reason is not None
        if state != CLOSED:
            raise _invalid("\"state\" must be CLOSED")
        async with hub.db.write() as conn:
            opened = await windows.close_window(conn, wid, reason, now=hub.clock.now())
        return json_response(window_json(opened))

    # Settlements ----------------------------------------------------------------------------

    @r.get("/settlements")
    async def list_settlements(request: Request) -> Response:
        q = request.query_params

        def opt_id(key: str) -> int | None:
            v = q.get(key)
            return _id(v, key) if v is not None else None

        flt = settlements.SettlementFilter(
            state=q.get("state"), from_time=_time(q.get("fromDateTime"), "fromDateTime"),
            to_time=_time(q.get("toDateTime"), "toDateTime"), currency=_currency(q.get("currency")),
            settlement_window_id=opt_id("settlementWindowId"),
            from_window_time=_time(q.get("fromSettlementWindowDateTime"), "fromSettlementWindowDateTime"),
            to_window_time=_time(q.get("toSettlementWindowDateTime"), "toSettlementWindowDateTime"),
            participant_id=opt_id("participantId"), account_id=opt_id("accountId"),
        )
        async with hub.db.read() as conn:
            found = await settlements.find_settlements(conn, flt, limit=limit)
        return json_response([settlement_json(s) for s in found])

    @r.post("/settlements")
    async def create_settlement(request: Request) -> Response:
        body = await _json_body(request)
        model_name = _text(body, "settlementModel", max_len=50)
        reason = _text(body, "reason")
        assert model_name is not None
        assert reason is not None
        wins = body.get("settlementWindows")
        if wins is None:
            raise HubError(ErrorCode.MISSING_ELEMENT, "\"settlementWindows\" is required")
        if not isinstance(wins, list) or not wins:
            raise _invalid("\"settlementWindows\" must be a non-empty array")
        if len(wins) > limit:
            raise HubError(ErrorCode.TOO_MANY_ELEMENTS, f"at most {limit} settlementWindows")
        ids = []
        for i, w in enumerate(wins):
            if not isinstance(w, dict) or "id" not in w:
                raise HubError(ErrorCode.MISSING_ELEMENT, f"\"settlementWindows[{i}].id\" is required")
            ids.append(_id(w["id"], f"settlementWindows[{i}].id"))
        async with hub.db.write() as conn:
            created = await settlements.create_settlement(conn, model_name, reason, ids, now=hub.clock.now())
        return json_response(settlement_json(created))

    @r.get("/settlements/{settlement_id}")
    async def get_settlement(settlement_id: str) -> Response:
        sid = _id(settlement_id, "id")
        async with hub.db.read() as conn:
            return json_response(settlement_json(await settlements.get_settlement(conn, sid)))

    async def _apply(sid: int, groups: list[tuple[int, list[AccountUpdate]]]) -> Response:
        updates = [u for _, us in groups for u in us]
        async with hub.db.write() as conn:
            result = await settlements.update_accounts(conn, sid, updates, now=hub.clock.now())
        return json_response(update_json(result, [(pid, [u.account_id for u in us]) for pid, us in groups]))

    @r.put("/settlements/{settlement_id}")
    async def update_settlement(settlement_id: str, request: Request) -> Response:
        sid = _id(settlement_id, "id")
        body = await _json_body(request)
        parts = body.get("participants")
        if parts is not None and any(body.get(k) is not None for k in ("state", "reason", "externalReference")):
            raise _invalid("No other properties are allowed when participants is provided")
        if parts is None:
            state, reason = body.get("state"), body.get("reason")
            if (state is None) != (reason is None):
                raise HubError(ErrorCode.MISSING_ELEMENT, "State and reason are mandatory")
            if state != ABORTED:
                raise _invalid("Invalid request payload input")
            reason_text = _text(body, "reason")
            assert reason_text is not None
            ext = _text(body, "externalReference", required=False, max_len=256)
            async with hub.db.write() as conn:
                aborted = await settlements.abort_settlement(conn, sid, reason_text, ext, now=hub.clock.now())
            return json_response(settlement_json(aborted))
        if not isinstance(parts, list):
            raise _invalid("\"participants\" must be an array")
        groups: list[tuple[int, list[AccountUpdate]]] = []
        for i, p in enumerate(parts):
            if not isinstance(p, dict):
                raise _invalid(f"participants[{i}] must be an object")
            pid = _id(p.get("id"), f"participants[{i}].id")
            groups.append((pid, _account_updates(pid, p.get("accounts", []), f"participants[{i}].accounts")))
        return await _apply(sid, groups)

    async def _participant_view(sid: int, pid: int, aid: int | None) -> Response:
        async with hub.db.read() as conn:
            s = await settlements.get_settlement(conn, sid)
        mine = [a for a in s.accounts if a.participant_id == pid]
        if not mine:
            raise _invalid("Participant not in settlement")
        if aid is not None and not any(a.id == aid for a in mine):
            if any(a.id == aid for a in s.accounts):
                raise _invalid("Provided account does not match any participant position account")
            raise _invalid("Account not in settlement")
        body = settlement_json(s, participant_id=pid, account_id=aid)
        return json_response(body)

    @r.get("/settlements/{settlement_id}/participants/{participant_id}")
    async def get_participant(settlement_id: str, participant_id: str) -> Response:
        return await _participant_view(_id(settlement_id, "id"), _id(participant_id, "participantId"), None)

    @r.put("/settlements/{settlement_id}/participants/{participant_id}")
    async def update_participant(settlement_id: str, participant_id: str, request: Request) -> Response:
        sid, pid = _id(settlement_id, "id"), _id(participant_id, "participantId")
        body = await _json_body(request)
        return await _apply(sid, [(pid, _account_updates(pid, body.get("accounts"), "accounts"))])

    @r.get("/settlements/{settlement_id}/participants/{participant_id}/accounts/{account_id}")
    async def get_account(settlement_id: str, participant_id: str, account_id: str) -> Response:
        return await _participant_view(
            _id(settlement_id, "id"), _id(participant_id, "participantId"), _id(account_id, "accountId")
        )

    @r.put("/settlements/{settlement_id}/participants/{participant_id}/accounts/{account_id}")
    async def update_account(settlement_id: str, participant_id: str, account_id: str, request: Request) -> Response:
        sid, pid, aid = _id(settlement_id, "id"), _id(participant_id, "participantId"), _id(account_id, "accountId")
        body = await _json_body(request)
        if body.get("state") is None or body.get("reason") is None:
            raise HubError(ErrorCode.MISSING_ELEMENT, "State and reason are mandatory")
        return await _apply(sid, [(pid, _account_updates(pid, [{**body, "id": aid}], "body"))])

    # Reports ---------------------------------------------------------------------------------

    def _report_response(request: Request, as_json: Callable[[], Any], as_csv: Callable[[], str],
                         filename: str) -> Response:
        fmt = request.query_params.get("format", "json")
        if fmt == "csv":
            return Response(as_csv(), media_type="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})
        if fmt != "json":
            raise _invalid("format must be json or csv")
        return json_response(as_json())

    @r.get("/reports/settlements/{settlement_id}")
    async def settlement_report(settlement_id: str, request: Request) -> Response:
        sid = _id(settlement_id, "id")
        async with hub.db.read() as conn:
            rep = await reports.settlement_report(conn, sid)
        return _report_response(
            request, lambda: settlement_report_json(rep), lambda: reports.settlement_report_csv(rep),
            f"settlement-{sid}",
        )

    @r.get("/reports/settlements/{settlement_id}/participants/{name}")
    async def participant_report(settlement_id: str, name: str, request: Request) -> Response:
        sid = _id(settlement_id, "id")
        async with hub.db.read() as conn:
            rep = await reports.participant_report(conn, sid, name)
        return _report_response(
            request, lambda: participant_report_json(rep), lambda: reports.participant_report_csv(rep),
            f"settlement-{sid}-{name}",
        )

    return r


def _totals_json(t: reports.Totals) -> dict[str, Any]:
    return {
        "sentAmount": amount(t.sent_amount), "sentCount": t.sent_count,
        "receivedAmount": amount(t.received_amount), "receivedCount": t.received_count,
    }


def settlement_report_json(rep: reports.SettlementReport) -> dict[str, Any]:
    s = rep.settlement
    return {
        "settlementId": s.id, "settlementModel": s.settlement_model, "state": s.state,
        "createdDate": format_iso(s.created_at), "settlementWindows": [w.id for w in s.windows],
        "accounts": [
            {
                "participantId": a.participant_id, "participant": a.participant, "accountId": a.account_id,
                "currency": a.currency, "state": a.state, **_totals_json(a.totals),
                "netSettlementAmount": amount(a.net_settlement_amount),
            }
            for a in rep.lines
        ],
    }


def participant_report_json(rep: reports.ParticipantReport) -> dict[str, Any]:
    s = rep.settlement
    return {
        "settlementId": s.id, "settlementModel": s.settlement_model, "state": s.state,
        "participantId": rep.participant_id, "participant": rep.participant,
        "accounts": [
            {"accountId": a.account_id, "currency": a.currency, "state": a.state, **_totals_json(a.totals),
             "netSettlementAmount": amount(a.net_settlement_amount)}
            for a in rep.accounts
        ],
        "counterparties": [
            {"currency": c.currency, "counterpartyId": c.counterparty_id, "counterparty": c.counterparty,
             **_totals_json(c.totals), "net": amount(c.totals.net)}
            for c in rep.lines
        ],
    }
