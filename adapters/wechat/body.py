"""The article body as WeChat takes it: inline styles, its images kept for `uploadimg`, videos named with their address.

WeChat keeps only images whose URL came from `media/uploadimg` and strips every other image
(shared/channels.md), and it allows no links to other sites in an article. So the renderer keeps
each body image as `<img src="ORIGINAL" …>` and lists the originals in the rendition; the adapter
uploads them at delivery time and rewrites `src` (adapters.wechat.images). A link to a video (a
video file, or an attachment of a video type) — a 视频解读 — becomes a visible block naming the
video and its address, pointing readers to 阅读原文 where the portal plays it: WeChat's own video
cards need a video uploaded to the account's library, which its publishing API does not offer.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

IMAGE_NOTE = "〔图片请见原文〕"
IMAGE_STYLE = "display:block;max-width:100%;height:auto;margin:0 auto 1em;"
VIDEO_STYLE = "display:block;margin:.5em 0;padding:.6em 1em;background:#f5f5f5;border-left:3px solid #165da3;font-size:15px;color:#333;"
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".webm", ".m3u8", ".flv", ".avi", ".mkv", ".ts")

_BLOCK = "margin:0 0 1em;line-height:1.75;font-size:16px;color:#333;text-align:justify;"
STYLES: dict[str, str] = {
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


def is_video(url: str, videos: frozenset[str] = frozenset()) -> bool:
    """A video address: one of the publication's video attachments, or a URL whose path is a video file."""
    return url in videos or urlsplit(url).path.lower().endswith(VIDEO_EXTENSIONS)


def video_block(title: str, url: str) -> str:
    name = html.escape(title.strip() or "视频", quote=False)
    # a <span> shown as a block: the link it replaces usually sits inside a <p>, where no <p> may go
    return (f'<span style="{VIDEO_STYLE}">▶ 视频：{name}<br>请点击文末“阅读原文”观看；视频地址：'
            f'{html.escape(url, quote=False)}</span>')


def image_tag(src: str, alt: str) -> str:
    """How an image stands in the rendered body; the adapter finds it again by exactly this text."""
    return f'<img src="{html.escape(src, quote=True)}" alt="{html.escape(alt, quote=True)}" style="{IMAGE_STYLE}">'


def image_pattern(src: str) -> re.Pattern[str]:
    """Every tag `image_tag` made for `src` (to replace it with the note when the image cannot go up)."""
    return re.compile(r'<img src="' + re.escape(html.escape(src, quote=True)) + r'"[^>]*>')


@dataclass
class Body:
    html: str
    truncated: bool
    images: list[str] = field(default_factory=list)  # original URLs, in order, once each
    videos: list[str] = field(default_factory=list)


class _WechatHtml(HTMLParser):
    """Re-emit sanitized body HTML (processors.normalize) with inline styles; images kept, links dropped, videos named.

    Only tags of `STYLES` survive; text is escaped again; output stops at the first top-level
    element boundary after `budget` characters.
    """

    def __init__(self, budget: int, videos: frozenset[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.size = 0
        self.stack: list[str] = []
        self.budget = budget
        self.truncated = False
        self.known_videos = videos
        self.images: list[str] = []
        self.videos: list[str] = []
        self.video: tuple[str, list[str]] | None = None  # inside <a href=video>: its URL and text so far

    def _emit(self, text: str) -> None:
        if not self.truncated:
            self.out.append(text)
            self.size += len(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "img":
            self._image(values.get("src", ""), values.get("alt") or values.get("title") or "")
            return
        if tag == "a":
            href = values.get("href", "")
            if href and is_video(href, self.known_videos) and self.video is None:
                self.video = (href, [])
            return  # other links: keep the text, drop the tag (WeChat allows no links to other sites)
        if tag not in STYLES and tag not in _VOID:
            return
        kept = "".join(f' {k}="{html.escape(v, quote=True)}"' for k, v in values.items() if k in _KEEP_ATTRS)
        style = STYLES.get(tag, "")
        self._emit(f"<{tag}{kept}" + (f' style="{style}"' if style else "") + ">")
        if tag not in _VOID:
            self.stack.append(tag)

    def _image(self, src: str, alt: str) -> None:
        if not src.startswith(("https://", "http://")):
            self._emit(f'<span style="color:#888;">{IMAGE_NOTE}</span>')
            return
        if src not in self.images and not self.truncated:
            self.images.append(src)
        self._emit(image_tag(src, alt))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.stack and self.stack[-1] == tag:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.video is not None:
            url, words = self.video
            self.video = None
            if not self.truncated and url not in self.videos:
                self.videos.append(url)
            self._emit(video_block("".join(words), url))
            return
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
        if self.video is not None:
            self.video[1].append(data)
            return
        self._emit(html.escape(data, quote=False))

    def result(self) -> Body:
        self.close()
        if self.video is not None:  # an <a> never closed
            self.handle_endtag("a")
        while self.stack and not self.truncated:
            self._emit(f"</{self.stack.pop()}>")
        return Body("".join(self.out), self.truncated, self.images, self.videos)


def wechat_body(body_html: str, budget: int, videos: frozenset[str] = frozenset()) -> Body:
    """The WeChat-safe body: HTML, whether it was cut short, the image URLs to upload, the videos it names."""
    parser = _WechatHtml(budget, videos)
    parser.feed(body_html)
    return parser.result()
