"""Personal data that must not be published unmasked: ID numbers, mobile numbers, bank card numbers.

Matched on folded text (processors.screening.reading), so full-width digits, `＋86`, zero-width
characters and inline tags are already out of the way. A number may be written in groups
separated by one space, dash or dot (`138 1234 5678`, `138-1234-5678`, `6222 0202 0011 2233 445`)
or broken by `<br>` anywhere. Groups are only put together in the shapes people write these
numbers in, so a row of unrelated figures does not add up to a bank card or a phone number;
a `<br>` joins freely (what it splits, a reader still reads as one number).

- id-number (block): 18 characters per GB 11643 -- a real birth date at positions 7-14 and the
  matching check character. Unified social credit codes (GB 32100) and 索引号 are public and
  named as such just before them, so a code labelled 信用代码/识别号/… is not an ID number.
- mobile-number (hold): 11 digits `1[3-9]…`, optionally after `+86`, `86` or `0086`, anywhere
  (in an address too: `/files/13812345678.pdf` names someone). Office numbers (0531-12345678)
  are not mobiles. Some notices publish a contact's mobile on purpose,
  so an operator decides.
- bank-card (hold): 16-19 digits passing the Luhn check, not one repeated digit, not a credit
  code, and not inside an address: ids and query strings in URLs pass Luhn one time in ten.
  Written in groups, the groups must be the whole run of figures (four-digit groups from a row
  of figures are not a card). Institutional accounts are published on purpose in fee notices,
  so an operator decides.

Masked forms (domain.md): mobile `138****1234`, ID `35*************123`, card `6222***********3445`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

from processors.screening.reading import SOFT_BREAK
from schemas.vocab import credit_code_checksum_ok

_RUN = re.compile(rf"(?<![0-9A-Za-z])\+?\d+(?:[ .\-{SOFT_BREAK}]\d+)*(?:[Xx])?(?![0-9A-Za-z])")
# What every _RUN of 11 characters or more contains (`+`, then ten or more digits and separators, or those and a
# final X): a digit and eight more digits or separators.
_LONG_RUN = re.compile(rf"\d[\d .\-{SOFT_BREAK}]{{8}}")
_GROUP = re.compile(r"\d+[Xx]?")
_URL = re.compile(r"(?:https?|ftp)://[!-~]+|www\.[!-~]+", re.I)
_CODE_LABEL = re.compile(r"(?:信用代码|识别号|机构代码|组织代码|登记号|注册号|索引号|编码|代码)\s*[:：]?\s*$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_MAX_GROUPS = 8  # the longest way to write one number: 4+4+4+4+3 with a prefix and <br> splits

_MOBILE_SHAPES = {(11,), (3, 4, 4), (3, 8), (7, 4)}
_ID_SHAPES = {(18,), (6, 8, 4), (6, 4, 4, 4), (4, 4, 4, 4, 2)}


@dataclass(frozen=True)
class NumberHit:
    rule: str
    start: int  # span in the folded text, separators and country code included
    end: int
    masked: str  # the only form of the number that leaves this module


def id_number_ok(candidate: str) -> bool:
    """GB 11643: a real birth date at positions 7-14 and a matching check character.

    The date test keeps 18-char unified social credit codes (public, all over disclosure
    pages) from being taken for ID numbers by checksum luck.
    """
    if len(candidate) != 18 or not candidate[:17].isdigit():
        return False
    try:
        born = dt.date(int(candidate[6:10]), int(candidate[10:12]), int(candidate[12:14]))
    except ValueError:
        return False
    if not 1900 <= born.year <= dt.date.today().year:
        return False
    total = sum(int(d) * w for d, w in zip(candidate[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == candidate[17].upper()


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mask_mobile(digits: str) -> str:
    return digits[:3] + "****" + digits[-4:]


def mask_id(number: str) -> str:
    return number[:2] + "*" * 13 + number[-3:]


def mask_card(digits: str) -> str:
    return digits[:4] + "*" * (len(digits) - 8) + digits[-4:]


def _card_shape(shape: tuple[int, ...]) -> bool:
    if len(shape) == 1:
        return True
    if all(n == 4 for n in shape[:-1]) and 1 <= shape[-1] <= 4:
        return True
    return len(shape) == 2 and shape[0] == 6


def _mobile(digits: str, shape: tuple[int, ...], plus: bool) -> str | None:
    """The mobile number (without country code) written here, or None."""
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == 11 + len(prefix):
            if shape[0] == len(prefix):
                shape = shape[1:]
            elif len(shape) == 1:
                shape = (11,)
            else:
                return None
            digits = digits[len(prefix):]
            break
    else:
        if plus:
            return None  # some other country's number
    if len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789" and shape in _MOBILE_SHAPES:
        return digits
    return None


def _classify(number: str, shape: tuple[int, ...], *, plus: bool, in_url: bool, whole: bool,
              labelled_code: bool) -> tuple[str, str] | None:
    """(rule, masked form) of what `number`, written in groups `shape`, is -- or None."""
    if not labelled_code and shape in _ID_SHAPES and id_number_ok(number):
        return "id-number", mask_id(number)  # an ID number is one wherever it is, addresses included
    if not number.isdigit():
        return None
    mobile = _mobile(number, shape, plus)
    if mobile:
        return "mobile-number", mask_mobile(mobile)
    if (16 <= len(number) <= 19 and not in_url and not labelled_code and (len(shape) == 1 or whole) and _card_shape(shape)
            and luhn_ok(number) and len(set(number)) > 1 and not credit_code_checksum_ok(number)):
        return "bank-card", mask_card(number)
    return None


def find_numbers(text: str) -> list[NumberHit]:
    """ID, mobile and bank-card numbers in folded text."""
    hits: list[NumberHit] = []
    if not _LONG_RUN.search(text):  # most texts: one scan, no run matched one by one, no URL looked for
        return hits
    urls = [m.span() for m in _URL.finditer(text)]
    for run in _RUN.finditer(text):
        if run.end() - run.start() >= 11:  # shorter runs (dates, amounts) hold no 11-digit number
            hits += _numbers_in_run(text, run, urls)
    return hits


def _numbers_in_run(text: str, run: re.Match[str], urls: list[tuple[int, int]]) -> Iterator[NumberHit]:
    groups = [(m.start() + run.start(), m.end() + run.start()) for m in _GROUP.finditer(run.group())]
    plus = run.group().startswith("+")
    i = 0
    while i < len(groups):
        for j in range(min(len(groups), i + _MAX_GROUPS) - 1, i - 1, -1):
            found = _classify_span(text, groups[i:j + 1], plus=plus and i == 0, whole=i == 0 and j == len(groups) - 1,
                                   urls=urls)
            if found:
                rule, masked = found
                yield NumberHit(rule, groups[i][0] - (1 if plus and i == 0 else 0), groups[j][1], masked)
                i = j + 1
                break
        else:
            i += 1


def _classify_span(text: str, groups: list[tuple[int, int]], *, plus: bool, whole: bool,
                   urls: list[tuple[int, int]]) -> tuple[str, str] | None:
    number = "".join(text[s:e] for s, e in groups)
    if len(number) < 11 or len(number) > 19:
        return None
    shape: list[int] = []
    for k, (s, e) in enumerate(groups):
        if k and text[groups[k - 1][1]] == SOFT_BREAK:
            shape[-1] += e - s  # a <br> does not end a group
        else:
            shape.append(e - s)
    start = groups[0][0]
    in_url = any(s <= start < e for s, e in urls)
    labelled = bool(_CODE_LABEL.search(text[max(0, start - 12):start]))
    return _classify(number.upper(), tuple(shape), plus=plus, in_url=in_url, whole=whole, labelled_code=labelled)
