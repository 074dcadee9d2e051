"""The demo data is valid where it is sent: every demo business registers, and each push channel's
address passes the platform's own checks (so `govcast demo` shows all four push channels working)."""

from __future__ import annotations

from adapters.wechat.template_sandbox import OPENID_RE
from govcast.samples import demo_businesses
from schemas.subscriber import SubscriberIn


def test_demo_businesses_cover_every_push_channel_with_addresses_the_platforms_accept() -> None:
    subs = [SubscriberIn.model_validate(row) for row in demo_businesses("http://127.0.0.1:8000", "whsec_" + "A" * 32)]
    preferred = {sub.channels[0].value for sub in subs}
    assert preferred == {"webhook", "email", "sms", "wechat_template"}
    openids = [sub.wechat_openid for sub in subs if sub.wechat_openid]
    assert openids and all(OPENID_RE.match(o) for o in openids)  # else the sandbox answers 40003 invalid openid
