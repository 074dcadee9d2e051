"""Push rendition: what every per-business message of a publication shares (the why-line is per business)."""

from __future__ import annotations

from typing import Any

from govcast.settings import Settings
from processors.render.links import portal_article_url
from schemas.publication import Publication

SUMMARY_CHARS = 120


def render_push(pub: Publication, settings: Settings) -> dict[str, Any]:
    summary = (pub.summary or "").strip()
    if len(summary) > SUMMARY_CHARS:
        summary = summary[:SUMMARY_CHARS - 1] + "…"
    return {"title": pub.title, "summary": summary, "url": portal_article_url(pub, settings.base_url, settings.categories)}
