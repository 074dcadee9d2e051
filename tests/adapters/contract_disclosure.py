"""The disclosure row of the shared adapter contract (its sandbox from tests/adapters/disclosure_support.py)."""

from __future__ import annotations

from tests.adapters.contract import ContractCase, Fault
from tests.adapters.disclosure_support import DisclosureHandle

CASE = ContractCase(
    channel="disclosure",
    start=DisclosureHandle,
    adapter=lambda h: h.adapter(),
    task=lambda h: h.task(),
    inject=lambda h, faults: h.faults(**faults),
    secret_fields=("secret",),
    faults=(
        Fault("ok", {}, "delivered"),
        Fault("maintenance (503 MAINTENANCE)", {"maintenance_seconds": 120}, "retryable"),
        Fault("rate limit (429 RATE_LIMITED)", {"rate_limit": {"requests": 1, "retry_after": 5}}, "retryable"),
        Fault("content rejected (422)", {"reject": {"requests": 1, "code": "CONTENT_REJECTED"}}, "rejected", "CONTENT_REJECTED"),
        Fault("invalid unit (422)", {"reject": {"requests": 1, "code": "INVALID_UNIT"}}, "rejected", "INVALID_UNIT"),
    ),
)
