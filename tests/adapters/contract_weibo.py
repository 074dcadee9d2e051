"""The weibo row of the shared adapter contract (its sandbox from tests/adapters/newmedia_support.py)."""

from __future__ import annotations

from tests.adapters.contract import ContractCase, Fault
from tests.adapters.newmedia_support import Platforms, publication

CASE = ContractCase(
    channel="weibo",
    start=lambda tmp: Platforms(tmp).start(),
    adapter=lambda p: p.weibo(timeout_seconds=0.5),
    task=lambda p: p.task("weibo", publication()),
    inject=lambda p, faults: p.faults("weibo", **faults),
    secret_fields=("access_token",),
    faults=(
        Fault("ok", {}, "delivered"),
        Fault("system error (10001)", {"busy": 1}, "retryable"),
        Fault("user rate limit (10023)", {"rate_limit": 1}, "retryable"),
        Fault("IP rate limit (10022)", {"ip_rate_limit": 1}, "retryable"),
        Fault("token expired (21327)", {"expire_token": True}, "rejected", "configuration"),
        Fault("token invalid (21332)", {"revoke_token": True}, "rejected", "configuration"),
        Fault("share timeout", {"timeout_share": 1, "delay_seconds": 1.5}, "unknown"),
    ),
)
