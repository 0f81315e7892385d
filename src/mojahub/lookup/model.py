"""Account lookup (ALS): pure rules for party keys, oracle choice and oracle result filtering
(reference admin-api.md §6, fspiop.md §3.1-§3.2). No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PartyKey:
    """``{Type}/{ID}[/{SubId}]`` of a party or participant path."""

    party_id_type: str
    party_identifier: str
    party_sub_id: str | None = None


@dataclass(frozen=True, slots=True)
class OracleEntry:
    """One item of an oracle's ``partyList``."""

    fsp_id: str
    currency: str | None = None
    party_sub_id: str | None = None


@dataclass(frozen=True, slots=True)
class Oracle:
    """An oracle registered with the ALS admin API (``/oracles``)."""

    id: int
    party_id_type: str
    endpoint_value: str
    endpoint_type: str
    currency: str | None
    is_default: bool
    is_active: bool


def choose_oracle(oracles: Sequence[Oracle], party_id_type: str, currency: str | None) -> Oracle | None:
    """The oracle the ALS asks for a type (and currency, when the request names one): among the
    active ones of that type — with the currency if given, else any — the default one wins, then the
    oldest. None means "no registered oracle": the built-in store answers."""
    candidates = [o for o in oracles if o.is_active and o.party_id_type == party_id_type]
    if currency is not None:
        with_currency = [o for o in candidates if o.currency == currency]
        candidates = with_currency or [o for o in candidates if o.currency is None] or candidates
    if not candidates:
        return None
    return sorted(candidates, key=lambda o: (not o.is_default, o.id))[0]


def matching_fsps(entries: Sequence[OracleEntry], party_sub_id: str | None) -> list[str]:
    """The FSPs an oracle result points to, in order, without repeats. Without a SubId only entries
    without ``partySubIdOrType`` count; with one only entries with exactly that SubId (reference
    ALS filtering, admin-api.md §6.2)."""
    out: list[str] = []
    for e in entries:
        if (e.party_sub_id or None) != party_sub_id:
            continue
        if e.fsp_id and e.fsp_id not in out:
            out.append(e.fsp_id)
    return out
