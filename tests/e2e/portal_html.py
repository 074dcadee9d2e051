"""Read portal pages the way a test (or a crawler) would: metadata table, links, scripts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any

import requests

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.links: list[str] = []
        self.alternates: list[dict[str, str]] = []
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.header: dict[str, str] = {}
        self.text_parts: list[str] = []
        self._cell: str | None = None
        self._th: str | None = None
        self._buf: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag == "meta" and "name" in a:
            self.meta[a["name"]] = a.get("content", "")
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "link" and a.get("rel") == "alternate":
            self.alternates.append(a)
        elif tag in ("th", "td"):
            self._cell, self._buf = tag, []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell == tag:
            text = "".join(self._buf).strip()
            if tag == "th":
                self._th = text.rstrip(":：")
            elif self._th is not None:
                self.header[self._th] = text
                self._th = None
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text_parts.append(data)
        if self._cell:
            self._buf.append(data)

    @property
    def text(self) -> str:
        return "".join(self.text_parts)


def page(url: str) -> PageParser:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, f"{url}: HTTP {response.status_code}"
    parser = PageParser()
    parser.feed(response.content.decode("utf-8"))
    return parser


def feed_links(url: str) -> list[str]:
    root = ET.fromstring(requests.get(url, timeout=10).content)
    return [e.find(f"{ATOM}link").attrib["href"] for e in root.iter(f"{ATOM}entry")]  # type: ignore[union-attr]


def sitemap_urls(url: str) -> list[str]:
    """Every page URL of a sitemap, following a sitemap index to its parts."""
    root = ET.fromstring(requests.get(url, timeout=10).content)
    if root.tag == f"{SITEMAP}sitemapindex":
        return [page for loc in root.iter(f"{SITEMAP}loc") for page in sitemap_urls(loc.text or "")]
    return [loc.text or "" for loc in root.iter(f"{SITEMAP}loc")]


def index_entries(url: str) -> list[dict[str, Any]]:
    """Every live entry of the portal's JSON index (index.json names its parts)."""
    body = requests.get(url, timeout=10).json()
    return [e for part in body["parts"] for e in requests.get(part["url"], timeout=10).json()["entries"]]
