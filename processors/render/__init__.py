"""Renderers: publication and site views in, channel text out (pure functions over Jinja2 templates)."""

from processors.render.portal import (
    environment,
    feed_updated,
    home_sections,
    render_article,
    render_column,
    render_feed,
    render_home,
    render_list_page,
    render_sitemap,
    render_withdrawn,
)
from processors.render.views import (
    ArticleView,
    Column,
    EntryRef,
    HomeSection,
    ListPage,
    PortalEntry,
    RefLink,
    RelationGroup,
    SiteView,
    Tombstone,
    paginate,
)

__all__ = [
    "ArticleView", "Column", "EntryRef", "HomeSection", "ListPage", "PortalEntry", "RefLink", "RelationGroup",
    "SiteView", "Tombstone", "environment", "feed_updated", "home_sections", "paginate", "render_article",
    "render_column", "render_feed", "render_home", "render_list_page", "render_sitemap", "render_withdrawn",
]
