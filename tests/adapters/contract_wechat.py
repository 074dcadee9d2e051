"""The wechat row of the shared adapter contract (its sandbox from tests/adapters/newmedia_support.py)."""

from __future__ import annotations

from tests.adapters.contract import ContractCase, Fault
from tests.adapters.newmedia_support import Platforms, publication


def _wechat_tokens(platforms: Platforms) -> list[str]:
    token = platforms.ledger.get("wechat", "token:wx_sandbox_appid").get("access_token")
    return [token] if token else []


CASE = ContractCase(
    channel="wechat",
    start=lambda tmp: Platforms(tmp).start(),
    adapter=lambda p: p.wechat(timeout_seconds=0.5),
    task=lambda p: p.task("wechat", publication()),
    inject=lambda p, faults: p.faults("wechat", **faults),
    secret_fields=("secret",),
    runtime_secrets=_wechat_tokens,
    faults=(
        Fault("ok", {}, "pending"),
        Fault("busy (-1)", {"busy": 1}, "retryable"),
        Fault("per-minute quota (45011)", {"minute_quota": 1}, "retryable"),
        Fault("daily quota (45009)", {"quota": True}, "retryable"),
        Fault("token expired (42001, refreshed)", {"expire_token": True}, "pending"),
        Fault("publish check (53503)", {"check_fail": 1}, "rejected", "content"),
        Fault("unverified account (48001)", {"unverified": True}, "rejected", "configuration"),
        Fault("submit timeout", {"timeout_submit": 1, "delay_seconds": 1.5}, "unknown"),
    ),
)
