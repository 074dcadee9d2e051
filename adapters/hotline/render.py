"""Hotline renderer: a policy or interpretation -> the knowledge-base entry (contract EntryIn, without `version`).

What an agent on the 12345 line reads out: the question callers ask, who the policy is for (适用对象), its points
(政策要点, short, at most six), where to handle it (办理渠道), whom to call (咨询电话), how long it is in force
(有效期), and where the original is (the portal page, 索引号). Only from the publication's own record, so the
entry cannot say something the portal does not.
"""

from __future__ import annotations

import re
from typing import Any

from adapters.common.install import Installation
from adapters.common.links import portal_article_url
from adapters.common.textfit import fit, squash
from adapters.common.views import publish_day
from adapters.hotline.config import hotline_env
from schemas import industries
from schemas.publication import Kind, Publication, Relation, Targeting

MAX_POINTS = 6
POINT_CHARS = 80
_SENTENCE_END = re.compile(r"(?<=[。；！？])|\n+")


def question(pub: Publication) -> str:
    """How callers ask about it (the entry's 问题): the title as a question, short enough to read out."""
    if pub.kind is Kind.interpretation:
        return fit(f"如何理解《{squash(pub.title)}》？", 100)
    return fit(f"《{squash(pub.title)}》有哪些政策要点？", 100)


def audience(pub: Publication) -> str:
    """适用对象 from the push targeting when the department gave one; else the publisher's whole jurisdiction."""
    t: Targeting | None = pub.targeting
    if t is None or not any((t.regions, t.industries, t.scales, t.qualifications, t.credit_codes)):
        return f"{pub.publisher}职责范围内的企业和群众（以原文为准）"
    parts: list[str] = []
    if t.regions:
        parts.append("注册地在" + "、".join(t.regions))
    if t.industries:
        names = [industries.label(code).split(" ", 1)[-1] or code for code in t.industries]
        parts.append("属于" + "、".join(dict.fromkeys(names)))
    if t.scales:
        parts.append("规模为" + "、".join(t.scales))
    if t.qualifications:
        parts.append("具备" + "、".join(t.qualifications) + "资质")
    who = "，".join(parts) + "的企业" if parts else ""
    if t.credit_codes:
        who = (who + "；以及" if who else "") + "原文所列企业"
    return fit(who, 200)


def points(pub: Publication) -> list[str]:
    """政策要点: the summary first, then the body's sentences, each fitted to POINT_CHARS; at most MAX_POINTS."""
    found: list[str] = []
    candidates = [pub.summary] if pub.summary else []
    candidates += [s for s in _SENTENCE_END.split(pub.body_text) if s]
    for text in candidates:
        text = squash(text)
        if len(text) >= 6 and text not in found:  # salutations (各区县人民政府：) are not points
            found.append(fit(text, POINT_CHARS))
        if len(found) == MAX_POINTS:
            break
    return found or [fit(squash(pub.title), POINT_CHARS)]


def render_hotline(pub: Publication, install: Installation) -> dict[str, Any]:
    url = portal_article_url(pub, install.base_url, install.categories)
    return {
        "source_id": pub.id,
        "index_no": str(pub.index),
        "kind": pub.kind.value,
        "title": pub.title,
        "question": question(pub),
        "audience": audience(pub),
        "points": points(pub),
        "service_channels": [f"{pub.publisher}（发文机关）", f"政府网站原文：{url}", "12345政务服务便民热线"],
        "phone": hotline_env(install).phone,
        "publisher": pub.publisher,
        "doc_no": pub.doc_no or None,
        "valid_from": (pub.effective_date or publish_day(pub)).isoformat(),
        "valid_until": pub.expiry_date.isoformat() if pub.expiry_date else None,
        "source_url": url,
        "interprets": [r.id for r in pub.related if r.relation is Relation.interprets and r.id],
    }
