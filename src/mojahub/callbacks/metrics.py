"""Prometheus metrics of callback delivery (served by ``GET /metrics`` on the operator port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# outcome: delivered | http_4xx | http_5xx | http_other | timeout | network_error | no_endpoint
CALLBACK_ATTEMPTS = Counter(
    "mojahub_callback_attempts_total",
    "Callback delivery attempts by outcome",
    ["outcome"],
)
CALLBACK_LATENCY = Histogram(
    "mojahub_callback_latency_seconds",
    "Time from sending a callback to the DFSP's HTTP answer (or failure)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
CALLBACK_FINAL = Counter(
    "mojahub_callback_messages_total",
    "Outbox messages reaching a final state",
    ["state"],
)
OUTBOX_BACKLOG = Gauge(
    "mojahub_outbox_backlog",
    "Outbox messages still PENDING (not yet delivered or failed)",
)
CALLBACKS_IN_FLIGHT = Gauge(
    "mojahub_callbacks_in_flight",
    "Callbacks being sent by this process right now",
)

# The hot path's labelled child, looked up once (labels() costs a lock and a dict lookup per call).
DELIVERED_ATTEMPTS = CALLBACK_ATTEMPTS.labels("delivered")
DELIVERED_MESSAGES = CALLBACK_FINAL.labels("DELIVERED")
