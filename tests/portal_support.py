"""Test support for the portal: build publications the way the pipeline does, and read pages as a browser would.

Shared by tests/adapters/test_portal.py and tests/processors/test_render_portal.py (importable because
tests/conftest.py puts this directory on sys.path).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from processors.normalize import normalize
from schemas import Action, DeliveryTask, IndexNo, Publication, PublicationIn, delivery_id

CODE = DEMO_DEPARTMENT["publisher_code"]
T0 = dt.datetime(2025, 3, 5, 1, 0, tzinfo=dt.UTC)


def build_publication(pub_id: str, payload: dict[str, Any] | None = None, *, version: int = 1, seq: int = 1,
                      minutes: int = 0, retract_reason: str | None = None) -> Publication:
    """A normalized Publication (body sanitized by processors.normalize), submitted `minutes` after T0."""
    pub = normalize(PublicationIn.model_validate(payload or sample_policy()), publication_id=pub_id, version=version,
                    department=CODE, index=IndexNo(code=CODE, year=2025, sequence=seq),
                    submitted_at=T0 + dt.timedelta(minutes=minutes))
    if retract_reason is not None:
        pub = pub.model_copy(update={"retracted": True, "retract_reason": retract_reason})
    return pub


def task_for(pub: Publication, action: Action = Action.publish, channel: str = "portal") -> DeliveryTask:
    return DeliveryTask(delivery_id=delivery_id(pub.id, pub.version, channel, action), channel=channel, action=action,
                        publication=pub)


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    def iter(self, tag: str | None = None) -> Iterator[Node]:
        if tag is None or self.tag == tag:
            yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter(tag)

    def find_all(self, tag: str, **attrs: str) -> list[Node]:
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [n for n in self.iter(tag) if all(n.attrs.get(k) == v for k, v in wanted.items())]

    def find(self, tag: str, **attrs: str) -> Node:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag} {attrs}> in <{self.tag}>"
        return found[0]

    @property
    def text(self) -> str:
        raw = "".join(child if isinstance(child, str) else child.text for child in self.children)
        return " ".join(raw.split())

    def links(self) -> list[tuple[str, str]]:
        """(href, text) of every <a> inside."""
        return [(a.attrs.get("href", ""), a.text) for a in self.iter("a")]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_html(text: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


def meta_tags(doc: Node) -> dict[str, str]:
    return {m.attrs["name"]: m.attrs.get("content", "") for m in doc.iter("meta") if "name" in m.attrs}


def header_table(doc: Node) -> dict[str, str]:
    """The metadata table of an article (or withdrawal) page: row header -> value."""
    table = doc.find("table", class_="meta-table")
    rows = {}
    for tr in table.iter("tr"):
        th = tr.find("th")
        assert th.attrs.get("scope") == "row"
        rows[th.text] = tr.find("td").text
    return rows
