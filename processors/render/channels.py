"""Per-channel renderers used by the plan stage: Publication -> the channel's rendition (a dict on the task).

The portal renders its own pages (it is a static-site generator over its index), so it has
no entry here. Registry, explicit: channel -> renderer(publication, settings).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from govcast.settings import Settings
from processors.render.disclosure import render_disclosure
from processors.render.push import render_push
from processors.render.wechat import render_wechat
from processors.render.weibo import render_weibo
from schemas.publication import Publication

Renderer = Callable[[Publication, Settings], dict[str, Any]]

RENDERERS: dict[str, Renderer] = {
    "disclosure": render_disclosure,
    "wechat": render_wechat,
    "weibo": render_weibo,
    "push": render_push,
}
