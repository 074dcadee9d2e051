"""Fitting text into a platform's length limit without breaking what must stay whole.

Text is cut only between *atoms*: a URL, a run of Latin letters/digits (a word or a
number such as "2025" or "COVID-19"), or one user-perceived character (a base character
with its combining marks, variation selectors, emoji modifiers and ZWJ sequences, a
flag pair, a UTF-16 surrogate pair if one slipped through). A cut text ends with "…".
Costs are additive per atom (units chosen by the caller: code points for WeChat,
half-characters for Weibo), so fitting is linear.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

ELLIPSIS = "…"

# A URL: scheme, then the ASCII characters RFC 3986 allows (CJK punctuation or a space ends it).
URL_PATTERN = r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+"
URL_RE = re.compile(URL_PATTERN)

_EXTEND = (
    r"[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\u3099\u309a\ufe00-\ufe0f\ufe20-\ufe2f"
    r"\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f\U000e0100-\U000e01ef]"
)
_CHAR = r"(?:[\ud800-\udbff][\udc00-\udfff]|[\U0001f1e6-\U0001f1ff]{2}|.)"
_ATOM = re.compile(
    rf"{URL_PATTERN}"
    r"|(?:(?!https?://)[A-Za-z0-9])+(?:['’.\-](?:(?!https?://)[A-Za-z0-9])+)*"  # a word stops where a URL starts
    rf"|{_CHAR}{_EXTEND}*(?:\u200d{_CHAR}{_EXTEND}*)*",
    re.S,
)
_TRAILING = frozenset(" \t\r\n\u3000，、；：,;:")


def atoms(text: str) -> Iterator[str]:
    """The unbreakable pieces of `text`, in order; joined they give `text` back."""
    for match in _ATOM.finditer(text):
        yield match.group()


def code_points(piece: str) -> int:
    return len(piece)


def fit(text: str, limit: int, cost: Callable[[str], int] = code_points) -> str:
    """`text` if it costs at most `limit`, else its longest atom-aligned prefix that fits with "…" appended.

    Returns "" when not even "…" fits.
    """
    pieces: list[str] = []
    total = 0
    for piece in atoms(text):
        pieces.append(piece)
        total += cost(piece)
        if total > limit:
            break
    else:
        return text
    budget = limit - cost(ELLIPSIS)
    if budget < 0:
        return ""
    kept: list[str] = []
    used = 0
    for piece in pieces:
        if used + cost(piece) > budget:
            break
        kept.append(piece)
        used += cost(piece)
    while kept and kept[-1] in _TRAILING:  # no dangling comma or space before the ellipsis
        kept.pop()
    return "".join(kept) + ELLIPSIS


def squash(text: str) -> str:
    """Whitespace runs (newlines included) to one space: posts and digests are one paragraph."""
    return " ".join(text.split())
