"""Machine screening before anything goes out (先审后发, 保密审查, personal data).

Pure functions over a Publication: every text a channel shows is read as a reader sees it
(processors.screening.reading), then checked for classification marks and internal wording
(processors.screening.marks) and for unmasked personal data (processors.screening.personal).
Findings are typed (schemas.screening.Severity):

- block: held, and an operator cannot approve it; the department revises (or retracts) it.
  Classification marks and ID numbers.
- hold: held until an operator who checked it approves it (or the department revises it).
  Internal-only wording in a sentence, mobile numbers, bank card numbers.
- warn: goes out; noted in the publication's timeline for operators. Secrecy terms of the law
  (国家秘密, 机密级, …) and a bare 秘密 in a sentence.

Nothing here edits content: masking is the department's decision (each finding offers the
masked form), and a silently altered official document would be worse than a held one.
Findings never repeat the personal data they are about.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

from processors.screening.marks import find_marks
from processors.screening.personal import find_numbers, id_number_ok, luhn_ok, mask_card, mask_id, mask_mobile
from processors.screening.reading import SOFT_BREAK, Piece, fold, html_pieces
from schemas.publication import Publication
from schemas.screening import Finding, Severity

__all__ = ["Finding", "Severity", "id_number_ok", "luhn_ok", "mask_card", "mask_id", "mask_mobile", "screen", "screen_text",
           "stopping", "summary"]

RULES: dict[str, tuple[Severity, str]] = {
    "classification-mark": (Severity.block, "密级标志 (classification mark)"),
    "id-number": (Severity.block, "身份证号 (ID number)"),
    "internal-wording": (Severity.hold, "内部/涉密字样 (internal-only wording)"),
    "mobile-number": (Severity.hold, "手机号 (mobile number)"),
    "bank-card": (Severity.hold, "银行卡号 (bank card number)"),
    "secrecy-term": (Severity.warn, "保密用语 (secrecy term, not a mark)"),
}
_CONTEXT = 12  # characters of context on each side of an excerpt


def screen_piece(piece: Piece) -> list[Finding]:
    folded = fold(piece.text)
    numbers = find_numbers(folded.text)
    # Personal data in piece-text coordinates, to mask it in every excerpt (its own and its neighbours').
    personal = [(*folded.span(h.start, h.end), h.masked) for h in numbers]
    found: list[tuple[str, int, int, str]] = [(h.rule, *folded.span(h.start, h.end), h.masked) for h in numbers]
    found += [(m.rule, *folded.span(m.start, m.end), "") for m in find_marks(folded.text)]
    findings = []
    for rule, start, end, masked in sorted(found, key=lambda f: f[1]):
        severity, label = RULES[rule]
        source_start, source_end = piece.source_span(start, end)
        findings.append(Finding(rule=rule, severity=severity, label=label, field=piece.field,
                                excerpt=_excerpt(piece.text, start, end, personal), masked=masked,
                                start=source_start, end=source_end))
    return findings


def _excerpt(text: str, start: int, end: int, personal: list[tuple[int, int, str]]) -> str:
    """The finding with some context, every piece of personal data in it replaced by its masked form."""
    lo, hi = max(0, start - _CONTEXT), min(len(text), end + _CONTEXT)
    for s, e, _ in personal:  # never cut a number in half: a half is still personal data
        if s < lo < e:
            lo = s
        if s < hi < e:
            hi = e
    out, pos = [], lo
    for s, e, masked in sorted(personal):
        if e <= lo or s >= hi:
            continue
        out += [text[pos:s], masked]
        pos = e
    out.append(text[pos:hi])
    body = " ".join("".join(out).replace(SOFT_BREAK, " ").split())
    return ("…" if lo > 0 else "") + body + ("…" if hi < len(text) else "")


def screen_text(text: str, field: str = "text") -> list[Finding]:
    """Screen one plain text (a field's value)."""
    return screen_piece(Piece(field, text))


def pieces(pub: Publication) -> Iterator[Piece]:
    """Every text a channel shows of `pub`, named by where it is in the record."""
    for name in ("title", "short_title", "summary", "publisher", "doc_no", "category", "theme", "disclosure_matter"):
        value = getattr(pub, name)
        if value:
            yield Piece(name, value)
    for channel, values in pub.channel_overrides.items():
        for name, text in values.items():
            yield Piece(f"channel_overrides.{channel}.{name}", text)
    for i, keyword in enumerate(pub.keywords):
        yield Piece(f"keywords[{i}]", keyword)
    for i, issuer in enumerate(pub.issuers):  # 发文机关 in the portal's header
        yield Piece(f"issuers[{i}]", issuer)
    for name in ("normative_no", "change_note"):  # 登记编号; the revision history (portal) and the change notice
        if value := getattr(pub, name):
            yield Piece(name, value)
    for i, ref in enumerate(pub.related):
        if ref.title:
            yield Piece(f"related[{i}].title", ref.title)
    for i, file in enumerate(pub.attachments):
        yield Piece(f"attachments[{i}].name", file.name)
        yield Piece(f"attachments[{i}].url", str(file.url))
        yield Piece(f"attachments[{i}].media_type", file.media_type)
    yield from html_pieces(pub.body_html, "body")


def screen(pub: Publication) -> list[Finding]:
    """Every finding in what channels show of `pub`: the fields, the sanitized body with its links and
    images, and numbers that only the plain-text body (Weibo, digests) shows, where it runs table
    cells together.

    Most publications have no finding at all, and screening a dozen short fields one by one cost more
    than reading them (issue 16): the short texts are read once, joined (`_flagged`), and only the
    pieces with something in them are screened one by one, for their findings' positions and excerpts."""
    shown = list(pieces(pub))
    plain = Piece("body (plain text)", pub.body_text)
    flagged = _flagged([*shown, plain])
    findings = [f for piece, hit in zip(shown, flagged, strict=False) if hit for f in screen_piece(piece)]
    if flagged[-1]:
        seen = {(f.rule, f.masked) for f in findings if f.field == "body"}
        findings += [f for f in screen_piece(plain) if f.masked and (f.rule, f.masked) not in seen]
    return findings


# Between the pieces of `_flagged`'s one text. No rule matches across it: numbers, URLs and marks never
# span a line break or NUL, a line of only NUL is no mark, and a code label (信用代码：…) may be followed
# by blanks but not by NUL, so what each piece holds is found exactly as in the piece alone (the
# equivalence tests in tests/processors/test_screen_corpus.py hold it to that).
_SEPARATOR = "\n\x00\n"
# Longer texts (a real document's body) are screened on their own: reading them twice when they hold a
# finding would cost more than what joining saves (a few µs per piece).
_JOINED_CHARS = 200


def _flagged(pieces: list[Piece]) -> list[bool]:
    """Which pieces may have a finding: every rule once over the short ones, joined by _SEPARATOR; long ones all."""
    flagged = [len(piece.text) > _JOINED_CHARS for piece in pieces]
    short = [i for i, long in enumerate(flagged) if not long]
    starts: list[int] = []
    pos = 0
    for i in short:
        starts.append(pos)
        pos += len(pieces[i].text) + len(_SEPARATOR)
    folded = fold(_SEPARATOR.join(pieces[i].text for i in short))
    spans = [h.start for h in find_numbers(folded.text)] + [m.start for m in find_marks(folded.text)]
    for start in spans:
        flagged[short[bisect.bisect_right(starts, folded.span(start, start + 1)[0]) - 1]] = True
    return flagged


def stopping(findings: Iterable[Finding], *, approved: bool = False) -> list[Finding]:
    """The findings that keep a publication from going out (after an operator's approval: only blocks)."""
    kept = {Severity.block} if approved else {Severity.block, Severity.hold}
    return [f for f in findings if f.severity in kept]


def summary(findings: list[Finding], limit: int = 8) -> str:
    """One line for the timeline: what was found where, masked."""
    parts = [f"[{f.severity}] {f.label} in {f.field}: {f.masked or f.excerpt}" for f in findings[:limit]]
    if len(findings) > limit:
        parts.append(f"and {len(findings) - limit} more")
    return "; ".join(parts)
