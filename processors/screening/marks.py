"""保密审查 (Regulations on Open Government Information art. 14/17): classification marks and internal-only wording.

Matched on folded text (processors.screening.reading): star look-alikes are ★ already, full-width
punctuation is ASCII, zero-width characters are gone. Three kinds, most serious first; a span
claimed by one kind is not reported again by a later one:

- classification-mark (block): the document declares itself classified or internal -- a 密级
  with ★ (`机密★1年`, `★秘密`), a `密级：…` label, a line that is only a 密级 or 内部 mark
  (`秘密`, `内部资料 注意保存`), or such a mark in brackets (`【机密】`, `（内部资料）`).
  Only its issuing organ may declassify and remove the mark, so an operator cannot approve it.
- internal-wording (hold): 机密/绝密 or internal-only wording inside a sentence (`本通知涉及机密事项`,
  `此件为内部资料`, `请勿外传`): an operator reads it and decides.
- secrecy-term (warn): the legal vocabulary of secrecy that published regulations and notices use
  all the time -- `国家秘密`, `工作秘密`, `商业秘密`, the level list `绝密、机密、秘密`, `机密级`,
  and a bare 秘密 in a sentence. It goes out; operators see the note in the timeline.
  (`机密性` -- confidentiality in information security -- is not reported at all.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from processors.screening.reading import SOFT_BREAK

_TOP = "(?:绝|絕) *密"
_CONF = "(?:机|機) *密"
_SECRET = "(?:秘|祕) *密"
LEVEL = f"(?:{_TOP}|{_CONF}|{_SECRET})"
_INTERNAL = "内 *部(?:资料|文件|使用|参考|明电)?"
_INTERNAL_DOC = "内 *部(?:资料|文件|使用|参考|明电)"  # on a line of its own (a bare 内部 there is too often a table cell)

_STAR_MARK = re.compile(f"{LEVEL} *★(?: *(?:\\d+ *(?:年|个月|月|天)|长期))?|★ *{LEVEL}")
_LABEL_MARK = re.compile(f"密 *级 *[:：]? *(?:{LEVEL}|{_INTERNAL})")
_BRACKET_MARK = re.compile(f"[\\[【〔(<] *(?:{LEVEL}|{_INTERNAL}) *(?:★ *)?[\\]】〕)>]")
_LINE_MARK = re.compile(f"(?:{LEVEL} *级?|{_INTERNAL_DOC})(?: *(?:注意保存|请勿外传|不得外传))?")
_LINE_JUNK = " \t-_:;,.·★()[]【】〔〕<>"

_LIST_SEP = "[、,/和及与“”‘’\"'「」『』 ]*"
_LEGAL_TERMS = re.compile(
    f"{_TOP}{_LIST_SEP}{_CONF}{_LIST_SEP}{_SECRET}"  # the three levels, as the secrecy law lists them
    f"|{LEVEL} *级"  # 机密级: a level named in running text
    f"|(?:国家|工作|商业|个人) *{_SECRET}"
)
_CONFIDENTIALITY = re.compile(f"{_CONF} *性")  # 机密性: an information-security property, not a secret
_WORDING = re.compile(f"{_TOP}|{_CONF}|内 *部(?:资料|文件|使用|参考|传阅)|仅供内部|(?:请勿|不得|严禁|禁止)外传")
_BARE_SECRET = re.compile(_SECRET)
_NEI_BU = re.compile("内 *部")  # in every match of the patterns gated by `internal` that has no 密


@dataclass(frozen=True)
class MarkHit:
    rule: str
    start: int
    end: int


def _lines(text: str) -> Iterator[tuple[int, int]]:
    start = 0
    for match in re.finditer(f"[\n{SOFT_BREAK}]", text):
        yield start, match.start()
        start = match.end()
    yield start, len(text)


def _standalone_marks(text: str) -> Iterator[tuple[int, int]]:
    """Lines that carry nothing but a mark (blanks, brackets, stars and punctuation around it)."""
    for start, end in _lines(text):
        line = text[start:end]
        core = line.strip(_LINE_JUNK)
        if core and len(core) <= 16 and _LINE_MARK.fullmatch(core):
            offset = start + line.index(core)
            yield offset, offset + len(core)


def find_marks(text: str) -> list[MarkHit]:
    """Classification marks, internal-only wording and secrecy terms in folded text, in order of position."""
    claimed: list[tuple[int, int]] = []
    hits: list[MarkHit] = []

    def free(start: int, end: int) -> bool:
        return not any(start < e and s < end for s, e in claimed)

    def claim(rule: str | None, spans: Iterator[tuple[int, int]]) -> None:
        for start, end in spans:
            if free(start, end):
                claimed.append((start, end))
                if rule:
                    hits.append(MarkHit(rule, start, end))

    def spans(pattern: re.Pattern[str]) -> Iterator[tuple[int, int]]:
        return (m.span() for m in pattern.finditer(text))

    # Every pattern needs one of a few characters (a 密级 has 密, internal wording 内 *部 or 外); these scans
    # cost about 0.1 µs per character each (the line loop of _standalone_marks more), a substring test or
    # one search next to nothing, and most texts have no 密 (many a 部: 各部门, but no 内部).
    level = "密" in text
    internal = level or _NEI_BU.search(text) is not None
    if level:
        for pattern in (_STAR_MARK, _LABEL_MARK):
            claim("classification-mark", spans(pattern))
    if internal:
        claim("classification-mark", spans(_BRACKET_MARK))
        claim("classification-mark", _standalone_marks(text))
    if level:
        claim(None, spans(_CONFIDENTIALITY))
        claim("secrecy-term", spans(_LEGAL_TERMS))
    if internal or "外" in text:
        claim("internal-wording", spans(_WORDING))
    if level:
        claim("secrecy-term", spans(_BARE_SECRET))
    return sorted(hits, key=lambda h: h.start)
