"""Each channel's copy of a publication as that channel will show it, from the pipeline's own renderers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from adapters import channels as channel_registry
from adapters.common.links import portal_article_url
from adapters.common.views import ArticleView
from adapters.portal.config import portal_config
from adapters.portal.render import render_article
from schemas.publication import Publication
from settings import Settings

log = logging.getLogger("govcast.console")


@dataclass(frozen=True)
class Rendition:
    channel: str
    kind: str  # html (shown in a sandboxed frame) | text | fields
    html: str = ""
    text: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    error: str = ""


def _portal(pub: Publication, settings: Settings) -> Rendition:
    site = portal_config(settings).site_view()
    url = portal_article_url(pub, settings.base_url, settings.categories)
    column = site.column(settings.categories.get(pub.category, ""))
    return Rendition("portal", "html", html=render_article(ArticleView(pub, url, column), site))


def from_renderer(channel: str, out: dict[str, Any]) -> Rendition:
    if channel == "wechat":
        return Rendition(channel, "html", html=f"<h1>{_esc(out['title'])}</h1>{out['content']}",
                         fields=(("标题", out["title"]), ("作者", out["author"]), ("摘要", out["digest"]),
                                 ("阅读原文", out["content_source_url"])))
    if channel == "weibo":
        return Rendition(channel, "text", text=out["status"], fields=(("计数长度", f"{out['length']} / 140"),))
    if channel == "push":
        return Rendition(channel, "text", text=f"{out['title']}\n{out['summary']}\n{out['url']}")
    if channel == "disclosure":
        records = out.get("records") or []
        fields = tuple((f"单位 {i + 1}", ", ".join(f"{k}={v}" for k, v in sorted(r.items()) if isinstance(v, str | int))[:400])
                       for i, r in enumerate(records))
        if out.get("unknown_units"):
            fields += (("未登记单位", ", ".join(out["unknown_units"])),)
        return Rendition(channel, "fields", fields=fields or (("记录", "本条未指定公开单位，不推送到公开平台"),))
    return Rendition(channel, "text", text=str(out)[:2000])


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def renditions(pub: Publication, channels: list[str], settings: Settings) -> list[Rendition]:
    out = []
    for channel in channels:
        try:
            if channel == "portal":
                out.append(_portal(pub, settings))
            elif (renderer := channel_registry.renderers().get(channel)) is not None:
                out.append(from_renderer(channel, renderer(pub, settings)))
        except Exception as exc:  # a preview must never take the page down; say what went wrong
            log.exception("rendering the %s preview of %s failed", channel, pub.id)
            out.append(Rendition(channel, "text", error=f"{type(exc).__name__}: {exc}"))
    return out
