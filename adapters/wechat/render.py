"""WeChat official-account article: draft/add fields, WeChat-safe HTML and the cover JPG.

Limits (draft/add): title ≤ 64 characters (the MP editor's limit, which draft/add applies;
shared/channels.md said 32), author ≤ 16, digest ≤ 128, content < 20,000 characters without
JavaScript. Images inside the body must be uploaded with `uploadimg` (WeChat strips external
image URLs): the rendition lists them and the adapter uploads them and rewrites their URLs
(adapters.wechat.body, adapters.wechat.images). Videos are named with their address
(adapters.wechat.body). Styles are inline (the editor drops <style>). `content_source_url` is
the portal page ("阅读原文"); the article ends with a source line naming the publisher, as the
new-media rules for government accounts require. The cover is the department's own
(schemas.cover, already a ≤ 64 KB JPEG) or, without one, a generated band in the kind's colour.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import io
from collections.abc import Callable
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from adapters.common.install import Installation
from adapters.common.links import portal_article_url
from adapters.common.textfit import fit, squash
from adapters.common.views import publish_day
from adapters.common.wording import short_name
from adapters.overrides import overridden
from adapters.wechat.body import STYLES, Body, image_tag, video_block, wechat_body
from adapters.wechat.config import wechat_env
from schemas.publication import Kind, Publication

TITLE_MAX, AUTHOR_MAX, DIGEST_MAX = 64, 16, 128
CONTENT_MAX = 20_000  # characters, WeChat's limit
BODY_BUDGET = 16_000  # leaves room for the header, the source line and the template
COVER_MAX_BYTES = 64 * 1024
COVER_SIZE = (900, 383)  # 2.35:1, the article cover ratio
PICTURE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp"})

_NOTE = "margin:0 0 1em;font-size:14px;color:#888;"
_LONG_NOTE = "（正文较长，全文请点击“阅读原文”查看。）"


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("adapters.wechat", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, auto_reload=False,
    )


_KIND_COLORS: dict[Kind, tuple[int, int, int]] = {
    Kind.policy: (179, 27, 27), Kind.interpretation: (22, 93, 163), Kind.notice: (191, 110, 14), Kind.news: (35, 120, 80),
}


def cover_jpeg(pub: Publication) -> bytes:
    """The generated cover, for publications without their own: a band in the kind's colour, ≤ 64 KB."""
    from PIL import Image, ImageDraw  # imported lazily: only renderers of WeChat need Pillow

    width, height = COVER_SIZE
    red, green, blue = _KIND_COLORS.get(pub.kind, (120, 120, 120))
    image = Image.new("RGB", COVER_SIZE, (red, green, blue))
    draw = ImageDraw.Draw(image)
    seed = hashlib.sha256(pub.id.encode()).digest()
    for i in range(6):  # soft diagonal bands, placed by the publication id so covers differ
        x = seed[i] * width // 255
        shade = tuple(min(255, c + 18 + 6 * i) for c in (red, green, blue))
        draw.polygon([(x, 0), (x + 120, 0), (x - 160, height), (x - 280, height)], fill=shade)
    draw.ellipse((width - 250, 70, width - 10, 310), outline=(255, 236, 180), width=10)  # an emblem-like ring
    draw.rectangle((40, height - 70, width - 300, height - 58), fill=(255, 236, 180))
    for quality in (85, 70, 55, 40, 25):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality, optimize=True)
        if buffer.tell() <= COVER_MAX_BYTES:
            return buffer.getvalue()
    raise ValueError("generated cover does not fit in 64 KB")  # unreachable for a flat design; kept as a guard


def _content(pub: Publication, body: Body, source_url: str) -> str:
    meta = [("发布机构", pub.publisher), ("发文字号", pub.doc_no), ("索引号", pub.index_no_text),
            ("发布日期", publish_day(pub).isoformat())]
    return _environment().get_template("article.html").render(
        pub=pub, meta=[(k, v) for k, v in meta if v], body=Markup(body.html), truncated=body.truncated,
        long_note=_LONG_NOTE, source_url=source_url, note_style=_NOTE, block_style=STYLES["p"],
        videos=[Markup(video_block(name, url)) for name, url in _attached_videos(pub, body)],
        pictures=[Markup(image_tag(url, name)) for name, url in _attached_pictures(pub, body)],
    )


def _attached_pictures(pub: Publication, body: Body) -> list[tuple[str, str]]:
    """Picture attachments the body does not show (an 一图读懂 sent as a file): (name, URL), uploaded like body images."""
    if body.truncated:
        return []  # the article is already cut short: 阅读原文 has them
    return [(a.name, str(a.url)) for a in pub.attachments
            if a.media_type in PICTURE_TYPES and str(a.url) not in body.images]


def _attached_videos(pub: Publication, body: Body) -> list[tuple[str, str]]:
    """Video attachments the body does not already name: (name, URL)."""
    return [(a.name, str(a.url)) for a in pub.attachments
            if a.media_type.startswith("video/") and str(a.url) not in body.videos]


def _within(limit: int, what: str) -> Callable[[str], str | None]:
    def check(text: str) -> str | None:
        size = len(squash(text))
        return f"{what} is {size} characters; WeChat takes at most {limit}" if size > limit else None

    return check


# channel_overrides a department may give for WeChat, checked as draft/add counts (adapters.overrides)
OVERRIDES = {"title": _within(TITLE_MAX, "the title"), "digest": _within(DIGEST_MAX, "the digest"),
             "author": _within(AUTHOR_MAX, "the author")}


def render_wechat(pub: Publication, settings: Installation) -> dict[str, Any]:
    """The rendition carried on the WeChat task: draft/add article fields, the body images to upload and the cover.

    A department's cover travels on the publication itself (`cover_source: "department"`); only the generated
    one is carried here (`cover_jpeg`, base64), so no message carries a cover twice.
    """
    source_url = portal_article_url(pub, settings.base_url, settings.categories)
    videos = frozenset(str(a.url) for a in pub.attachments if a.media_type.startswith("video/"))
    body = wechat_body(pub.body_html, BODY_BUDGET, videos)
    content = _content(pub, body, source_url)
    if len(content) >= CONTENT_MAX:  # pathological markup density: fall back to plain text
        text = html.escape(fit(squash(pub.body_text), BODY_BUDGET // 2))
        body = Body(f'<p style="{STYLES["p"]}">{text}</p>', True)
        content = _content(pub, body, source_url)
    author = wechat_env(settings).author or pub.publisher
    rendition: dict[str, Any] = {
        "title": fit(squash(short_name(pub, TITLE_MAX)), TITLE_MAX),  # whole where a short name exists
        "author": fit(squash(author), AUTHOR_MAX),
        "digest": fit(squash(pub.summary or pub.body_text), DIGEST_MAX),
        "content": content,
        "content_source_url": source_url,
        "need_open_comment": 0,
        "only_fans_can_comment": 0,
        "images": [*body.images, *(url for _, url in _attached_pictures(pub, body))],
        "videos": [*body.videos, *(url for _, url in _attached_videos(pub, body))],
    }
    if pub.cover is not None:
        rendition["cover_source"] = "department"
    else:
        rendition.update(cover_source="generated", cover_jpeg=base64.b64encode(cover_jpeg(pub)).decode())
    return overridden(rendition, pub, "wechat", {name: _squashed(name) for name in OVERRIDES})


def _squashed(name: str) -> Callable[[str], dict[str, Any]]:
    """An override of `name` as one line, as the renderer makes its own."""
    def apply(text: str) -> dict[str, Any]:
        return {name: squash(text)}

    return apply
