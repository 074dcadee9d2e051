"""The hotline row of the shared adapter contract (its sandbox from tests/adapters/hotline_support.py)."""

from __future__ import annotations

from tests.adapters.contract import ContractCase, Fault
from tests.adapters.hotline_support import HotlineHandle

CASE = ContractCase(
    channel="hotline",
    start=HotlineHandle,
    adapter=lambda h: h.adapter(timeout=0.5, network_attempts=2),
    task=lambda h: h.task(),
    inject=lambda h, faults: h.faults(**faults),
    secret_fields=("secret",),
    faults=(
        Fault("ok", {}, "delivered"),
        Fault("maintenance (503 MAINTENANCE)", {"maintenance": 1}, "retryable"),
        Fault("rate limit (429 RATE_LIMITED)", {"rate_limit": 1}, "retryable"),
        Fault("content rejected (422)", {"reject": 1}, "rejected", "CONTENT_REJECTED"),
        # the answer comes after the adapter gave up; the resend is the same filing: delivered, not repeated
        Fault("answer too late, resent", {"timeout": 1, "delay_seconds": 1.0}, "delivered"),
    ),
)
