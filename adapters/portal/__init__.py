"""Portal channel: the static disclosure site (article pages, column lists, feed, sitemap, JSON index)."""

from adapters.portal.adapter import PortalAdapter
from adapters.portal.config import PortalConfig

__all__ = ["PortalAdapter", "PortalConfig"]
