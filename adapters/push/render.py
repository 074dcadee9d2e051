"""Push rendition: what every per-business message of a publication shares (the why-line is per business)."""

from __future__ import annotations

from typing import Any

from adapters.common.install import Installation
from adapters.common.links import portal_article_url
from schemas.publication import Publication

SUMMARY_CHARS = 120


def render_push(pub: Publication, settings: Installation) -> dict[str, Any]:
    url = portal_article_url(pub, settings.base_url, settings.categories)
    if pub.lapsed_by is not None:  # the short notice to the businesses that received the policy
        by = pub.lapsed_by
        name = f"《{by.by_title}》" + (f"（{by.by_doc_no}）" if by.by_doc_no else "")
        why = f"该政策已{pub.validity.value}，依据{name}，请以新文件为准。" if by.by_title else \
            f"该政策有效期至{pub.expiry_date}，已到期失效。"
        return {"title": pub.title, "url": url, "event": "policy.validity_changed", "validity": pub.validity.value,
                "summary": why, "replacement_title": by.by_title, "replacement_url": by.by_url}
    summary = (pub.summary or "").strip()
    if len(summary) > SUMMARY_CHARS:
        summary = summary[:SUMMARY_CHARS - 1] + "…"
    return {"title": pub.title, "summary": summary, "url": url}
