"""Links other channels make to the portal (WeChat 阅读原文, the Weibo post's URL, the disclosure source URL)."""

from __future__ import annotations

from collections.abc import Mapping

from adapters.common.views import OTHER_COLUMN, article_path
from schemas.publication import Publication


def portal_article_url(pub: Publication, base_url: str, categories: Mapping[str, str]) -> str:
    """The portal page of `pub`, computed the way adapters.portal names it: `<base>/portal/<column-slug>/<id>.html`.

    `base_url` is the installation's public URL (Settings.base_url); a 组配分类 the site does not
    know is listed under column "other". Known gap: a revision that moves an article to another
    column keeps its first URL on the portal, while this names the new column's path.
    """
    slug = categories.get(pub.category, OTHER_COLUMN[0])
    return f"{base_url.rstrip('/')}/portal/{article_path(slug, pub.id)}"
