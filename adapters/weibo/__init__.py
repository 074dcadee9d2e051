"""Weibo channel: one post per publication (statuses/share), deleted on retraction."""

from adapters.weibo.adapter import WeiboAdapter
from adapters.weibo.config import WeiboConfig, weibo_config, weibo_token

__all__ = ["WeiboAdapter", "WeiboConfig", "weibo_config", "weibo_token"]
