"""Targeting: which businesses a policy concerns, and why (the push feature's own rules).

Semantics (issue 5): within one targeting field any value matches; across fields every given
field must match; an empty or absent field does not constrain; `industries` are GB/T 4754 code
prefixes (`C` matches all manufacturing, `C39` every 39xx); `credit_codes` names businesses
explicitly. A targeting with no field at all matches nobody. `TargetIndex` is the in-memory
inverted index over the directory; `Directory` keeps it in step with the subscriber table
(Kafka workers use processors.directory_topic.TopicDirectory instead: same interface, `DirectoryView`).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from itertools import compress
from typing import TYPE_CHECKING, Protocol

from schemas import industries  # the GB/T 4754 names (pure data)
from schemas.publication import Targeting

if TYPE_CHECKING:
    from persistence.subscribers import SubscriberStore
    from schemas.subscriber import Subscriber

FIELDS = ("regions", "industries", "scales", "qualifications", "topics")


class DirectoryView(Protocol):
    """What matching and delivery read of the directory (the table, or the Kafka directory topic)."""

    def match(self, targeting: Targeting | None) -> list[str]: ...

    def get(self, credit_code: str) -> Subscriber | None: ...

    def get_many(self, credit_codes: list[str]) -> dict[str, Subscriber]: ...

    def close(self) -> None: ...


def industry_prefixes(code: str) -> list[str]:
    return [code[:n] for n in range(1, len(code) + 1)] if code else []


_BITS = bytes.maketrans(b"01", b"\x00\x01")  # a bitmap's binary digits -> bytes itertools.compress reads


def bitmap(numbers: Collection[int]) -> int:
    """The subscriber numbers as one Python int with bit n set for number n."""
    bits = bytearray((max(numbers, default=0) >> 3) + 1)
    for n in numbers:
        bits[n >> 3] |= 1 << (n & 7)
    return int.from_bytes(bits, "little")


class TargetIndex:
    """Inverted index: field -> value -> bitmap of subscriber numbers. Matching is bit algebra, not a scan.

    Bitmaps (one Python int per posting, a bit per business) rather than sets of ints: at 100,000 businesses the
    sets held about 60 MB for as long as the process lived, the bitmaps about 1 MB; OR and AND over them are a
    few microseconds, and the matched codes come out of one `itertools.compress` (C) over the code list."""

    def __init__(self, rows: Iterable[tuple[str, str, str, str, str, str]]) -> None:
        self.codes: list[str] = []
        self.number: dict[str, int] = {}
        building: dict[str, dict[str, list[int]]] = {f: {} for f in FIELDS}
        for code, region, industry, scale, quals, topics in rows:
            n = len(self.codes)
            self.codes.append(code)
            self.number[code] = n
            values = {"regions": [region] if region else [], "industries": industry_prefixes(industry),
                      "scales": [scale] if scale else [], "qualifications": quals.split("|") if quals else [],
                      "topics": topics.split("|") if topics else []}
            for field, vals in values.items():
                postings = building[field]
                for v in vals:
                    postings.setdefault(v, []).append(n)
        self.postings: dict[str, dict[str, int]] = {
            field: {value: bitmap(numbers) for value, numbers in postings.items()} for field, postings in building.items()}

    def __len__(self) -> int:
        return len(self.codes)

    def match(self, targeting: Targeting | None) -> list[str]:
        if targeting is None:
            return []
        masks: list[int] = []
        for field in FIELDS:
            wanted = getattr(targeting, field)
            if not wanted:
                continue
            postings, mask = self.postings[field], 0
            for v in wanted:
                mask |= postings.get(v.upper() if field == "industries" else v, 0)
            masks.append(mask)
        if targeting.credit_codes:
            masks.append(bitmap([self.number[c] for c in targeting.credit_codes if c in self.number]))
        if not masks:
            return []
        found = masks[0]
        for mask in masks[1:]:
            found &= mask
        return self.decode(found)

    def decode(self, found: int) -> list[str]:
        """The codes of the businesses whose bits are set, in number order."""
        digits = bin(found)[:1:-1]  # bit n at position n
        if found.bit_count() * 64 < len(self.codes):  # few: jump from one set bit to the next
            out, n = [], digits.find("1")
            while n >= 0:
                out.append(self.codes[n])
                n = digits.find("1", n + 1)
            return out
        return list(compress(self.codes, digits.encode().translate(_BITS)))


def industry_name(code: str) -> str:
    """"计算机、通信和其他电子设备制造业" for C39, C391 and C3911 alike (the division's name); the code if unknown."""
    found = industries.label(code)
    return found.split(" ", 1)[1] if found else code


def why(sub: Subscriber, targeting: Targeting | None) -> str:
    """One line on why a policy concerns this business (shown in every push message)."""
    if targeting is None:
        return ""
    parts: list[str] = []
    if targeting.credit_codes and sub.credit_code in targeting.credit_codes:
        parts.append("贵单位在本政策的适用企业名单内")
    if targeting.regions:
        parts.append(f"注册地在{sub.region}")
    if targeting.industries:  # in words (GB/T 4754 names): a business does not know its code
        parts.append(f"所属行业为{industry_name(sub.industry)}")
    if targeting.scales:
        parts.append(f"企业规模为{sub.scale}")
    if targeting.qualifications:
        parts.append("具备" + "、".join(q for q in sub.qualifications if q in targeting.qualifications) + "资质")
    if targeting.topics:
        parts.append("关注" + "、".join(t for t in sub.topics if t in targeting.topics))
    return "推送原因：" + "，".join(parts) + "。"


class Directory:
    """The index of the subscriber table, rebuilt when the table's revision changes."""

    def __init__(self, store: SubscriberStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._revision = -1
        self._index = TargetIndex(())

    def index(self) -> TargetIndex:
        with self._lock:
            revision = self.store.revision()
            if revision != self._revision:
                self._index = TargetIndex(self.store.index_rows())
                self._revision = revision
            return self._index

    def match(self, targeting: Targeting | None) -> list[str]:
        return self.index().match(targeting)

    def get(self, credit_code: str) -> Subscriber | None:
        return self.store.get(credit_code)

    def get_many(self, credit_codes: list[str]) -> dict[str, Subscriber]:
        return self.store.get_many(credit_codes)

    def close(self) -> None:
        """Nothing to stop (the Kafka directory's consumer thread has)."""
