"""Point-to-point policy push (惠企政策精准推送): webhook and email to subscribed businesses."""

from adapters.push.adapter import PushAdapter
from adapters.push.config import PushConfig, push_config

__all__ = ["PushAdapter", "PushConfig", "push_config"]
