"""Per-channel renderers used by the plan stage: Publication -> the channel's rendition (a dict on the task).

The portal renders its own pages (it is a static-site generator over its index), so it has
no entry here. Registry, explicit: channel -> renderer(publication, settings).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from govcast.settings import Settings
from schemas.publication import Publication

Renderer = Callable[[Publication, Settings], dict[str, Any]]

RENDERERS: dict[str, Renderer] = {}
