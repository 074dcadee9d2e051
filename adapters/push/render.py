"""Push rendition: what every per-business message of a publication shares (the why-line is per business).

It also plans the SMS text (adapters/push/sms_text.py) as the configured template will render it, so an
item whose SMS cannot fit shows a warning in the publication's timeline (`warnings`, see processors/stages.py)
before any business is messaged.
"""

from __future__ import annotations

from typing import Any

from adapters.common.install import Installation
from adapters.common.links import portal_article_url
from adapters.common.wording import kind_label, subject
from adapters.push.sms_client import sms_config
from adapters.push.sms_text import SmsPlan, placeholder_code, plan_sms
from schemas.publication import Publication, Validity

SUMMARY_CHARS = 120


def render_push(pub: Publication, settings: Installation) -> dict[str, Any]:
    url = portal_article_url(pub, settings.base_url, settings.categories)
    label, name = kind_label(pub.kind, pub.targeting, pub.keywords), pub.short_title or subject(pub.title)
    if pub.lapsed_by is not None:  # the short notice to the businesses that received the policy
        by = pub.lapsed_by
        ref = f"《{by.by_title}》" + (f"（{by.by_doc_no}）" if by.by_doc_no else "")
        if pub.validity is Validity.amended:
            why = f"该政策已被{ref}修改，仍然有效，请以修改后的内容为准。"
        elif by.by_title:
            why = f"该政策{pub.validity.phrase}，依据{ref}，请以新文件为准。"
        else:
            why = f"该政策有效期至{pub.expiry_date}，已到期失效。"
        return {"title": pub.title, "url": url, "event": "policy.validity_changed", "validity": pub.validity.value,
                "summary": why, "replacement_title": by.by_title, "replacement_url": by.by_url,
                "label": label, "subject": name}
    summary = (pub.summary or "").strip()
    if len(summary) > SUMMARY_CHARS:
        summary = summary[:SUMMARY_CHARS - 1] + "…"
    out: dict[str, Any] = {"title": pub.title, "summary": summary, "url": url, "label": label, "subject": name}
    sms = planned_sms(settings, label, name, f"{pub.id}?c=sms")
    if sms is not None:
        out["sms_chars"], out["sms_segments"] = sms.chars, sms.segments
        if sms.warning:
            out["warnings"] = [sms.warning]
    return out


def planned_sms(settings: Installation, label: str, name: str, link: str) -> SmsPlan | None:
    """The SMS every business would get (None: no SMS channel). A misconfigured SMS channel is reported where
    the push adapter is built; here it only means there is nothing to plan."""
    try:
        config = sms_config(settings)
    except ValueError:
        return None
    if config is None:
        return None
    return plan_sms(config.template_text, config.sign_name,
                    {"kind": label, "title": name, "code": placeholder_code(), "link": link, "reason": ""})
