"""Transfers: the clearing core (prepare, fulfil, abort, expiry, GET) over the ledger."""
