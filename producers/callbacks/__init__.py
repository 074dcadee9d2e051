"""Endpoints channel platforms call back (publish results, delivery receipts).

Registry: channel -> factory(settings, ledger) returning an APIRouter, mounted by
the app at `/callbacks/<channel>`. Every callback is verified (signature or
shared secret) before it is believed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from producers.callbacks.sms import sms_callbacks
from producers.callbacks.wechat import wechat_callbacks

if TYPE_CHECKING:
    from fastapi import APIRouter

    from govcast.settings import Settings
    from persistence.ledger import Ledger

CALLBACK_ROUTERS: dict[str, Callable[[Settings, Ledger], APIRouter]] = {
    "wechat": wechat_callbacks,
    "sms": sms_callbacks,
}
