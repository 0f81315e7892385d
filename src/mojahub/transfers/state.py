"""Transfer states: central-ledger's internal states and the FSPIOP TransferState they show as.

The hub validates and reserves in one transaction, so ``RECEIVED_PREPARE`` is never stored; it
stays in the enumeration because it is the state every prepare starts from.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    RECEIVED_PREPARE = "RECEIVED_PREPARE"
    RESERVED = "RESERVED"
    COMMITTED = "COMMITTED"
    ABORTED_REJECTED = "ABORTED_REJECTED"
    ABORTED_ERROR = "ABORTED_ERROR"
    EXPIRED_PREPARED = "EXPIRED_PREPARED"
    EXPIRED_RESERVED = "EXPIRED_RESERVED"
    INVALID = "INVALID"


# FSPIOP TransferState (the external enumeration).
RECEIVED = "RECEIVED"
RESERVED = "RESERVED"
COMMITTED = "COMMITTED"
ABORTED = "ABORTED"

_EXTERNAL: dict[State, str] = {
    State.RECEIVED_PREPARE: RECEIVED,
    State.RESERVED: RESERVED,
    State.COMMITTED: COMMITTED,
    State.ABORTED_REJECTED: ABORTED,
    State.ABORTED_ERROR: ABORTED,
    State.EXPIRED_PREPARED: ABORTED,
    State.EXPIRED_RESERVED: ABORTED,
    State.INVALID: ABORTED,
}

FINAL: frozenset[State] = frozenset(s for s, ext in _EXTERNAL.items() if ext in (COMMITTED, ABORTED))


def external(state: State) -> str:
    return _EXTERNAL[state]


def is_final(state: State) -> bool:
    return state in FINAL
