"""Sandboxes: faithful stand-ins for channel platforms that cannot be reached from here.

Each implements its platform's documented contract (shared/channels.md: tokens,
limits, error codes, quotas, asynchronous callbacks) like a payment provider's
test mode, and answers `GET /_inspect` with everything it holds. `govcast run`
mounts each at `/sandbox/<name>/` when sandboxes are enabled; production config
points the same adapters at the real platforms' base URLs.

Registry: name -> factory(settings) returning an ASGI app. Explicit, no scanning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from adapters.sandboxes.disclosure import disclosure_sandbox
from adapters.sandboxes.sms import sms_sandbox
from adapters.sandboxes.wechat import wechat_sandbox
from adapters.sandboxes.weibo import weibo_sandbox
from govcast.sinks import webhook_receiver

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from govcast.settings import Settings

SANDBOXES: dict[str, Callable[[Settings], ASGIApp]] = {
    "disclosure": disclosure_sandbox,
    "wechat": wechat_sandbox,
    "weibo": weibo_sandbox,
    "sms": sms_sandbox,
    "webhook": webhook_receiver,
}
