"""The operator API (FastAPI): central-ledger Admin API, Settlement API v2, ALS admin, health, metrics."""
