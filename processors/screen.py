"""Machine screening before anything goes out (先审后发, 保密审查, personal data).

Pure functions over a Publication. A finding holds the publication for an
operator; nothing here edits content (masking is the department's decision,
and a silently altered official document would be worse than a held one).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from schemas.publication import Publication

# 保密审查 (Regulations on Open Government Information art. 17): marks that must never be published.
_CLASSIFIED = re.compile(
    r"(绝密|机密|秘密)\s*[★☆]|[★☆]\s*(绝密|机密|秘密)"  # 密级 with the star mark
    r"|(?:^|[\s（(【\[])(绝密|机密|内部资料|内部文件|内部使用|不宜公开)(?:[\s）)】\]]|$)"  # bracketed or standalone marks
)
_ID_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_CARD_CANDIDATE = re.compile(r"(?<!\d)\d{16,19}(?!\d)")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class Finding:
    rule: str
    excerpt: str  # already masked: findings are shown to operators and logged

    def __str__(self) -> str:
        return f"{self.rule}: {self.excerpt}"


def id_number_ok(candidate: str) -> bool:
    """GB 11643: a real birth date at positions 7-14 and a matching check digit.

    The date test keeps 18-char unified social credit codes (public, all over
    disclosure pages) from being mistaken for ID numbers by checksum luck.
    """
    try:
        born = dt.date(int(candidate[6:10]), int(candidate[10:12]), int(candidate[12:14]))
    except ValueError:
        return False
    if not 1900 <= born.year <= dt.date.today().year:
        return False
    digits = candidate[:17]
    total = sum(int(d) * w for d, w in zip(digits, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == candidate[17].upper()


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mask(value: str) -> str:
    """`138****1234` style: keep the first 3 and last 4 characters."""
    return value[:3] + "*" * max(len(value) - 7, 4) + value[-4:]


def screen_text(text: str) -> list[Finding]:
    findings: list[Finding] = []
    for match in _CLASSIFIED.finditer(text):
        findings.append(Finding("classification mark (保密审查)", match.group(0).strip()))
    ids = {m.group(0) for m in _ID_CANDIDATE.finditer(text) if id_number_ok(m.group(0))}
    findings += [Finding("unmasked ID number (身份证号)", mask(v)) for v in sorted(ids)]
    findings += [Finding("unmasked mobile number (手机号)", mask(v)) for v in sorted({m.group(0) for m in _MOBILE.finditer(text)})]
    cards = {m.group(0) for m in _CARD_CANDIDATE.finditer(text) if m.group(0) not in ids and luhn_ok(m.group(0))}
    findings += [Finding("unmasked bank card number (银行卡号)", mask(v)) for v in sorted(cards)]
    return findings


def screen(pub: Publication) -> list[Finding]:
    """Everything a reader would see: title, summary, body text, keywords, attachment names."""
    parts = [pub.title, pub.summary, pub.body_text, " ".join(pub.keywords), " ".join(a.name for a in pub.attachments)]
    return screen_text("\n".join(parts))
