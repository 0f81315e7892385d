"""mojahub benchmark harness: ``make bench`` / ``python -m bench --help``.

A load generator plays payer and payee DFSPs over loopback HTTP against a real ``mojahub serve``
subprocess (SQLite and PostgreSQL), provisioned through the operator API; results are compared
with the raw HTTP ceiling R (wrk against a trivial ASGI endpoint on uvicorn with the same worker
count). See docs/performance.md.
"""
