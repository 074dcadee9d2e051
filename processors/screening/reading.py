"""Read text the way a reader sees it before screening matches anything, remembering where each character came from.

Two steps, each with a map back to the stored value so a finding can point at it:

1. markup (`html_pieces`): the sanitized body HTML becomes the text a reader sees -- inline
   tags vanish (`1381<b>234</b>5678` reads as one number), `<br>` is a soft line break a
   number may continue across, block ends end a line (table cells never merge into one
   number), entities are decoded -- plus the attribute texts a reader also meets: link
   `href`/`title`, image `alt`/`src`/`title`.
2. characters (`fold`): NFKC (full-width digits, letters and punctuation, ideographic space,
   compatibility forms such as Kangxi radicals), zero-width, bidi-control and variation
   characters and soft hyphens removed, dash look-alikes folded to `-`, star look-alikes
   (✭ ✮ ✯ ⭐ ＊ * ☆ …) folded to ★.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

SOFT_BREAK = "\u2028"  # a <br>: ends a line for marks, and a number may continue across it

_ZERO_WIDTH = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\u206a\u206b\u206c\u206d\u206e\u206f\u3164\ufeff\uffa0"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
)
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d\u30fc\u2500")
_STARS = frozenset("★☆✩✪✫✬✭✮✯✰✱✲✳✴✵✶✷✸✹✺⋆⭐⭑⭒🌟🟉🟊*")
# Characters that need no folding and are most of any Chinese text: handled in bulk, not one by one.
_PLAIN_RUN = re.compile(r"[\u4e00-\u9fff\n !-)+-~\u3001\u3002\u300a-\u3011\u201c\u201d\u2018\u2019\u2026\u00b7]+")


@dataclass(frozen=True)
class Piece:
    """One text a channel shows: a field's value, the body's reading text, or one body attribute."""

    field: str
    text: str
    origin: list[int] | None = None  # index in `text` -> index in the stored value (None: the same)

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        if self.origin is None or start >= end:
            return start, end
        return self.origin[start], self.origin[end - 1] + 1


@dataclass(frozen=True)
class Folded:
    """A piece's text after character folding; `origin` maps back into the piece's text (None: the same)."""

    text: str
    origin: list[int] | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The piece-text span of the (non-empty) folded span [start, end)."""
        if self.origin is None:
            return start, end
        return self.origin[start], self.origin[end - 1] + 1


@functools.cache
def _fold_char(ch: str) -> str:
    if ch in _ZERO_WIDTH:
        return ""
    if ch in _STARS:
        return "★"
    out = []
    for c in unicodedata.normalize("NFKC", ch):
        if c in _ZERO_WIDTH:
            continue
        out.append("-" if c in _DASHES else "★" if c in _STARS else " " if c.isspace() and c not in "\n" + SOFT_BREAK else c)
    return "".join(out)


class _FoldTable(dict[int, str]):
    """code point -> its folded form, for str.translate; filled as characters are first met (the process's texts
    use a few thousand distinct characters). Remembers which ones do not fold one for one."""

    def __init__(self) -> None:
        super().__init__()
        self.uneven: set[str] = set()  # characters that fold into none or several

    def __missing__(self, code: int) -> str:
        folded = self[code] = _fold_char(chr(code))
        if len(folded) != 1:
            self.uneven.add(chr(code))
        return folded


_FOLDS = _FoldTable()


# The characters between plain runs: the only ones `fold` has to look at (`…` folds into three, but is kept as
# written, as in a plain run of the slow path below). NUL folds into itself too; screen() joins texts with it.
_NOT_PLAIN = re.compile(_PLAIN_RUN.pattern.replace("[", "[^\x00", 1))


def fold(text: str) -> Folded:
    uneven = False

    def folded_run(match: re.Match[str]) -> str:
        nonlocal uneven
        run = match.group()
        out = run.translate(_FOLDS)  # meets (and so classifies) every character of the run
        uneven = uneven or not _FOLDS.uneven.isdisjoint(run)
        return out

    folded = _NOT_PLAIN.sub(folded_run, text)  # plain runs fold into themselves
    if not uneven:
        return Folded(folded)  # one character for one: positions do not move
    parts: list[str] = []
    origin: list[int] = []
    pos = 0
    for match in _PLAIN_RUN.finditer(text):
        for i in range(pos, match.start()):
            f = _fold_char(text[i])
            parts.append(f)
            origin.extend([i] * len(f))
        parts.append(match.group())
        origin.extend(range(match.start(), match.end()))
        pos = match.end()
    for i in range(pos, len(text)):
        f = _fold_char(text[i])
        parts.append(f)
        origin.extend([i] * len(f))
    return Folded("".join(parts), origin)


# -- markup -----------------------------------------------------------------------------------

_TOKEN = re.compile(r"<!--.*?-->|<(/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*)>|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);?", re.S)
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);?")
_ATTR = re.compile(r"""([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""")
_BLOCK = frozenset({
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd", "tr", "td", "th", "table",
    "thead", "tbody", "tfoot", "caption", "blockquote", "pre", "figure", "figcaption", "hr", "section", "article",
    "header", "footer", "aside", "nav", "main", "address",
})
_SHOWN_ATTRS = {"a": ("href", "title"), "img": ("alt", "src", "title")}


def _decode(source: str, start: int, end: int, parts: list[str], origin: list[int]) -> None:
    """Append source[start:end] with its character references decoded, mapping each character back."""
    pos = start
    for match in _ENTITY.finditer(source, start, end):
        parts.append(source[pos:match.start()])
        origin.extend(range(pos, match.start()))
        decoded = html.unescape(match.group())
        parts.append(decoded)
        origin.extend([match.start()] * len(decoded))
        pos = match.end()
    parts.append(source[pos:end])
    origin.extend(range(pos, end))


def html_pieces(source: str, field: str = "body") -> Iterator[Piece]:
    """The reading text of an HTML fragment, then each shown attribute, as pieces mapped into `source`."""
    parts: list[str] = []
    origin: list[int] = []
    attributes: list[Piece] = []
    pos = 0
    for match in _TOKEN.finditer(source):
        _decode(source, pos, match.start(), parts, origin)
        pos = match.end()
        token = match.group()
        if token.startswith("&"):
            _decode(source, match.start(), match.end(), parts, origin)
            continue
        name = (match.group(2) or "").lower()
        if not name:
            continue  # a comment
        if name == "br":
            parts.append(SOFT_BREAK)
            origin.append(match.start())
        elif name in _BLOCK:
            parts.append("\n")
            origin.append(match.start())
        shown = _SHOWN_ATTRS.get(name, ())
        if shown and not match.group(1):
            attributes += _attribute_pieces(source, match.start(3), match.group(3), name, shown, field)
    _decode(source, pos, len(source), parts, origin)
    yield Piece(field, "".join(parts), origin)
    yield from attributes


def _attribute_pieces(source: str, offset: int, attrs: str, tag: str, shown: tuple[str, ...], field: str) -> list[Piece]:
    pieces = []
    for match in _ATTR.finditer(attrs):
        attr = match.group(1).lower()
        if attr not in shown:
            continue
        group = next(g for g in (2, 3, 4) if match.group(g) is not None)
        start, end = offset + match.start(group), offset + match.end(group)
        parts: list[str] = []
        origin: list[int] = []
        _decode(source, start, end, parts, origin)
        pieces.append(Piece(f"{field} {tag}[{attr}]", "".join(parts), origin))
    return pieces
