"""WeChat official-account article: draft/add fields, WeChat-safe HTML and a generated cover JPG.

Limits (draft/add, shared/channels.md): title ≤ 32 characters, author ≤ 16, digest ≤ 128,
content < 20,000 characters without JavaScript; images inside the body must be uploaded
with `uploadimg` (external image URLs are stripped by WeChat), so the body carries none:
a note points readers to the original. Styles are inline (the editor drops <style>).
`content_source_url` is the portal page ("阅读原文"); the article ends with a source line
naming the publisher, as the new-media rules for government accounts require.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import io
from html.parser import HTMLParser
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from adapters.common.install import Installation
from adapters.common.links import portal_article_url
from adapters.common.textfit import fit, squash
from adapters.common.views import publish_day
from adapters.common.wording import short_name
from adapters.wechat.config import wechat_env
from schemas.publication import Kind, Publication

TITLE_MAX, AUTHOR_MAX, DIGEST_MAX = 32, 16, 128
CONTENT_MAX = 20_000  # characters, WeChat's limit
BODY_BUDGET = 16_000  # leaves room for the header, the source line and the template
COVER_MAX_BYTES = 64 * 1024
COVER_SIZE = (900, 383)  # 2.35:1, the article cover ratio

_BLOCK = "margin:0 0 1em;line-height:1.75;font-size:16px;color:#333;text-align:justify;"
_STYLES: dict[str, str] = {
    "p": _BLOCK, "div": _BLOCK,
    "h2": "margin:1.2em 0 .6em;font-size:18px;font-weight:bold;color:#b31b1b;",
    "h3": "margin:1em 0 .5em;font-size:17px;font-weight:bold;color:#333;",
    "h4": "margin:1em 0 .5em;font-size:16px;font-weight:bold;color:#333;",
    "h5": "margin:1em 0 .5em;font-size:16px;font-weight:bold;color:#333;",
    "h6": "margin:1em 0 .5em;font-size:16px;font-weight:bold;color:#333;",
    "blockquote": "margin:0 0 1em;padding:.5em 1em;border-left:3px solid #ddd;color:#666;",
    "pre": "margin:0 0 1em;white-space:pre-wrap;font-size:14px;", "code": "font-size:14px;",
    "ul": "margin:0 0 1em;padding-left:2em;", "ol": "margin:0 0 1em;padding-left:2em;",
    "li": "line-height:1.75;font-size:16px;color:#333;",
    "table": "width:100%;border-collapse:collapse;margin:0 0 1em;font-size:14px;",
    "th": "border:1px solid #ccc;padding:4px;background:#f5f5f5;", "td": "border:1px solid #ccc;padding:4px;",
    "caption": "font-weight:bold;padding:4px;",
    "strong": "", "b": "", "em": "", "i": "", "u": "", "s": "", "sub": "", "sup": "", "span": "",
    "dl": "margin:0 0 1em;", "dt": "font-weight:bold;", "dd": "margin:0 0 .5em 2em;",
    "thead": "", "tbody": "", "tfoot": "", "tr": "", "hr": "border:0;border-top:1px solid #eee;margin:1em 0;",
    "figure": "margin:0 0 1em;", "figcaption": "font-size:14px;color:#888;text-align:center;",
}
_VOID = {"br", "hr"}
_KEEP_ATTRS = {"colspan", "rowspan"}
_NOTE = "margin:0 0 1em;font-size:14px;color:#888;"
_IMAGE_NOTE = "〔图片请见原文〕"
_LONG_NOTE = "（正文较长，全文请点击“阅读原文”查看。）"


class _WechatHtml(HTMLParser):
    """Re-emit sanitized body HTML (processors.normalize) with inline styles, no images, no links.

    Only tags of `_STYLES` survive; text is escaped again; output stops at the first top-level
    element boundary after `budget` characters.
    """

    def __init__(self, budget: int) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.size = 0
        self.stack: list[str] = []
        self.budget = budget
        self.truncated = False

    def _emit(self, text: str) -> None:
        if not self.truncated:
            self.out.append(text)
            self.size += len(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self._emit(f'<span style="color:#888;">{_IMAGE_NOTE}</span>')
            return
        if tag not in _STYLES and tag not in _VOID:
            return  # <a> and anything unexpected: keep the text, drop the tag (WeChat disallows outside links)
        kept = "".join(f' {k}="{html.escape(v or "", quote=True)}"' for k, v in attrs if k in _KEEP_ATTRS)
        style = _STYLES.get(tag, "")
        self._emit(f"<{tag}{kept}" + (f' style="{style}"' if style else "") + ">")
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.stack and self.stack[-1] == tag:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.stack:
            return
        while self.stack:
            open_tag = self.stack.pop()
            self._emit(f"</{open_tag}>")
            if open_tag == tag:
                break
        if not self.stack and self.size > self.budget:
            self.truncated = True

    def handle_data(self, data: str) -> None:
        self._emit(html.escape(data, quote=False))

    def result(self) -> tuple[str, bool]:
        self.close()
        while self.stack and not self.truncated:
            self._emit(f"</{self.stack.pop()}>")
        return "".join(self.out), self.truncated


def wechat_body(body_html: str, budget: int = BODY_BUDGET) -> tuple[str, bool]:
    """(WeChat-safe body HTML, whether it was cut short)."""
    parser = _WechatHtml(budget)
    parser.feed(body_html)
    return parser.result()


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
    """A generated cover (no cover is ever submitted with a publication): banner in the kind's colour, ≤ 64 KB."""
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


def _content(pub: Publication, body: str, truncated: bool, source_url: str) -> str:
    meta = [("发布机构", pub.publisher), ("发文字号", pub.doc_no), ("索引号", pub.index_no_text),
            ("发布日期", publish_day(pub).isoformat())]
    return _environment().get_template("article.html").render(
        pub=pub, meta=[(k, v) for k, v in meta if v], body=Markup(body), truncated=truncated, long_note=_LONG_NOTE,
        source_url=source_url, note_style=_NOTE, block_style=_BLOCK,
    )


def render_wechat(pub: Publication, settings: Installation) -> dict[str, Any]:
    """The rendition carried on the WeChat task: draft/add article fields plus the cover (base64 JPG)."""
    source_url = portal_article_url(pub, settings.base_url, settings.categories)
    content = _content(pub, *wechat_body(pub.body_html), source_url)
    if len(content) >= CONTENT_MAX:  # pathological markup density: fall back to plain text
        text = html.escape(fit(squash(pub.body_text), BODY_BUDGET // 2))
        content = _content(pub, f'<p style="{_BLOCK}">{text}</p>', True, source_url)
    author = wechat_env(settings).author or pub.publisher
    return {
        "title": fit(squash(short_name(pub, TITLE_MAX)), TITLE_MAX),  # whole where a short name exists
        "author": fit(squash(author), AUTHOR_MAX),
        "digest": fit(squash(pub.summary or pub.body_text), DIGEST_MAX),
        "content": content,
        "content_source_url": source_url,
        "need_open_comment": 0,
        "only_fans_can_comment": 0,
        "cover_jpeg": base64.b64encode(cover_jpeg(pub)).decode(),
        "cover_source": "generated",
    }
