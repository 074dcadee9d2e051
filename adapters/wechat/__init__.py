"""WeChat official-account channel: articles published through draft/add + freepublish/submit."""

from adapters.wechat.adapter import WechatAdapter
from adapters.wechat.config import WechatConfig, wechat_config

__all__ = ["WechatAdapter", "WechatConfig", "wechat_config"]
