"""Weibo post: at most 140 characters counted the way Weibo counts them, ending with the portal URL.

How Weibo counts (the rule of weibo.com's own publisher box, which the WeCase client re-implemented
"bug-for-bug compatible with Sina's": github.com/WeCase/WeCase, src/TweetUtils.py `tweetLength`,
with test vectors such as "我司CEO与我司吉祥物...好大一坨！" → 16):

- count in half-characters: a character in U+0000–U+0080 (ASCII letters, digits, punctuation,
  spaces) is 1, any other character (Chinese, full-width punctuation, emoji) is 2;
- a link is shortened to t.cn by Weibo and counts 20 half-characters (10 characters) whatever
  its length, up to 140 bytes; a longer link counts 20 + (bytes − 140); links on weibo.com /
  weibo.cn of at most 41 bytes count their own bytes; t.cn links count as ordinary text
  (WeCase matches `http://` only, as Weibo did then; we apply the same rule to `https://`);
- the length is ceil(half-characters / 2); a post may have at most 140.

So "Chinese characters count 1, ASCII letters and digits count half, a URL counts 10".
"""

from __future__ import annotations

import math
import re
from typing import Any

from adapters.common.install import Installation
from adapters.common.links import portal_article_url
from adapters.common.textfit import URL_RE, fit, squash
from adapters.overrides import overridden
from schemas.publication import Publication

MAX_CHARS = 140
MAX_UNITS = 2 * MAX_CHARS  # half-characters
URL_UNITS = 20
TOPICS = 2  # #话题# per post: more reads as spam
_SHORT_WEIBO_URL = 41
_LONG_URL = 140
_WEIBO_HOST = re.compile(r"^https?://(?:weibo\.com|weibo\.cn)(?:[/?#]|$)")
_TCN_HOST = re.compile(r"^https?://t\.cn(?:[/?#]|$)")


def _text_units(text: str) -> int:
    return sum(1 if ord(ch) <= 0x80 else 2 for ch in text)


def _url_units(url: str) -> int:
    size = _text_units(url)
    if _TCN_HOST.match(url):
        return size
    if _WEIBO_HOST.match(url) and size <= _SHORT_WEIBO_URL:
        return size
    return URL_UNITS if size <= _LONG_URL else URL_UNITS + size - _LONG_URL


def units(text: str) -> int:
    """Half-characters of `text` as Weibo counts them."""
    total, last = 0, 0
    for match in URL_RE.finditer(text):
        total += _text_units(text[last:match.start()]) + _url_units(match.group())
        last = match.end()
    return total + _text_units(text[last:])


def weibo_length(text: str) -> int:
    """Characters of `text` as Weibo counts them (the number its 140 limit applies to)."""
    return math.ceil(units(text) / 2)


def compose(title: str, lead: str, url: str, topics: str = "") -> str:
    """`【title】lead #topic# url`, cut to fit 140 (title first, then the lead), always ending with the topics and
    `url` whole."""
    tail = (" " + topics if topics else "") + " " + url
    budget = MAX_UNITS - units(tail)
    heading = f"【{title}】"
    if units(heading) > budget:
        heading = "【" + fit(title, budget - units("【】"), units) + "】"
    rest = budget - units(heading)
    body = fit(lead, rest, units) if lead else ""
    if body == "…":  # nothing of the lead fits: leave it out
        body = ""
    return heading + body + tail


def hashtags(keywords: list[str], most: int = TOPICS) -> str:
    """Weibo topics (#话题#) from the first keywords: a reader finds the post under them. A topic may not hold
    "#", spaces or @ (Weibo would end the topic there)."""
    clean = [re.sub(r"[#@\s]", "", k) for k in keywords]
    return " ".join(f"#{k}#" for k in list(dict.fromkeys(c for c in clean if c))[:most])


def render_weibo(pub: Publication, settings: Installation) -> dict[str, Any]:
    """The rendition carried on the Weibo task: the post text and the portal URL it links to."""
    url = portal_article_url(pub, settings.base_url, settings.categories)
    text = compose(squash(pub.short_title or pub.title), squash(pub.summary or pub.body_text), url, hashtags(pub.keywords))
    # picture: the department's cover goes with the post (the adapter reads it from the publication, not the task)
    rendition = {"status": text, "url": url, "length": weibo_length(text), "picture": pub.cover is not None}

    def own_text(words: str) -> dict[str, Any]:
        status = squash(words) + " " + url  # the portal link always ends the post: Weibo requires one on the safe domain
        return {"status": status, "length": weibo_length(status)}

    return overridden(rendition, pub, "weibo", {"text": own_text})


def check_text(words: str) -> str | None:
    """A department's Weibo text (channel_overrides.weibo.text): it must leave room for the portal link."""
    size = math.ceil((units(squash(words)) + 1 + URL_UNITS) / 2)
    if size > MAX_CHARS:
        return (f"the post would be {size} characters as Weibo counts (the portal link, appended, counts "
                f"{URL_UNITS // 2}); at most {MAX_CHARS}")
    return None


OVERRIDES = {"text": check_text}  # channel_overrides a department may give for Weibo (adapters.overrides)
