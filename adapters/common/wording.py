"""What a push message calls the item, per publication kind, and the short form of its title.

Every push channel says what it is carrying: a 惠企政策 only when the policy is one (see `kind_label`),
a 政策文件 otherwise, a 政策解读, a 通知公告. SMS and WeChat template fields have no room for the full
official title ("济南市人民政府办公厅关于印发2025年济南市政务公开工作要点的通知", 32 characters), so they
name the document by its subject ("2025年济南市政务公开工作要点"), the way people refer to it.
"""

from __future__ import annotations

import re

from schemas.publication import Kind, Publication, Targeting

KIND_LABELS = {Kind.policy: "政策文件", Kind.interpretation: "政策解读", Kind.notice: "通知公告", Kind.news: "政务信息"}
BENEFIT_LABEL = "惠企政策"
# "<organ>关于印发<subject>的通知" forwards the document <subject>; "<organ>关于<matter>的<form>" is about <matter>.
_FORWARDS = re.compile(r"关于(?:印发|转发|公布)《?(?P<subject>.+?)》?的(?:通知|决定|函)$")
_ABOUT = re.compile(r"关于《?(?P<subject>.+?)》?的(?:解读|说明)$")
_LABEL_PREFIX = re.compile(r"^(?:政策解读|图片解读|视频解读|解读)[：:]\s*")


def kind_label(kind: Kind, targeting: Targeting | None, keywords: list[str]) -> str:
    """What the item is, in a reader's words. "惠企政策" is a claim: only for a policy aimed at businesses' benefit
    (targeted by policy topic such as 税费减免 or 融资支持, or tagged 惠企), never for, say, a work plan."""
    if kind is Kind.policy and ((targeting is not None and targeting.topics) or any("惠企" in k for k in keywords)):
        return BENEFIT_LABEL
    return KIND_LABELS.get(kind, KIND_LABELS[Kind.policy])


def subject(title: str) -> str:
    """The short name of a document: the forwarded document of a 印发 notice, the policy an interpretation
    explains, or the title after 关于 (without the issuing organ); unchanged when none applies."""
    text = _LABEL_PREFIX.sub("", title.strip())
    for pattern in (_FORWARDS, _ABOUT):
        if found := pattern.search(text):
            return found.group("subject").strip("《》 ")
    at = text.find("关于")
    return text[at + 2:] if at >= 0 and len(text) > at + 2 else text


def short_name(pub: Publication, limit: int = 32) -> str:
    """The name where at most `limit` characters fit: the department's short_title, else the official title when it
    fits, else the document's subject (which may still need cutting by the caller)."""
    if pub.short_title:
        return pub.short_title
    title = " ".join(pub.title.split())
    return title if len(title) <= limit else subject(title)
