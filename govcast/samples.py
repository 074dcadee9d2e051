"""Realistic sample publications for `govcast demo`, the docs and the tests.

Invented for govcast (the organ codes are checksum-valid but fictional; the
text paraphrases the shape of a real policy and its interpretation).
"""

from __future__ import annotations

import copy
from typing import Any

DEMO_DEPARTMENT = {"name": "济南市人民政府办公厅（演示）", "publisher_code": "11370100004188591X"}
OTHER_DEPARTMENT = {"name": "济南市数据局（演示）", "publisher_code": "11370100MB2866908X"}

_REVIEW = [
    {"stage": "初审", "reviewer": "王敏", "at": "2025-03-03T09:10:00+08:00"},
    {"stage": "复审", "reviewer": "李强", "at": "2025-03-03T15:40:00+08:00"},
    {"stage": "终审", "reviewer": "张红", "at": "2025-03-04T10:05:00+08:00"},
]

_POLICY: dict[str, Any] = {
    "title": "济南市人民政府办公厅关于印发2025年济南市政务公开工作要点的通知",
    "summary": "部署2025年全市政务公开重点任务：重点领域主动公开、政策服务提质增效、政民政企互动、依申请公开和平台建设。",
    "kind": "policy",
    "category": "政策文件",
    "theme": "综合政务\\政务公开",
    "publisher": DEMO_DEPARTMENT["name"],
    "publisher_code": DEMO_DEPARTMENT["publisher_code"],
    "written_date": "2025-03-04",
    "doc_no": "济政办字〔2025〕8号",
    "validity": "有效",
    "keywords": ["政务公开", "工作要点"],
    "body": (
        "<p>各区县人民政府，市政府各部门（单位）：</p>"
        "<p>《2025年济南市政务公开工作要点》已经市政府同意，现印发给你们，请认真贯彻落实。</p>"
        "<h2>一、做实重点领域主动公开</h2>"
        "<p>及时公开绿色低碳发展、城市更新、乡村振兴等政策信息，做好就业创业、教育、养老服务等民生领域信息公开。</p>"
        "<h2>二、推进政策服务提质增效</h2>"
        "<p>加强全市政府文件库建设，优化政策信息点对点推送，政策文件与解读材料同步起草、同步审签、同步发布。</p>"
        "<h2>三、打造集约高效公开平台</h2>"
        "<p>实现政府网站、12345热线、政务服务平台、政务新媒体等多渠道信息数据共享。</p>"
    ),
    "review": _REVIEW,
}

_INTERPRETATION: dict[str, Any] = {
    "title": "政策解读：关于《2025年济南市政务公开工作要点》的解读",
    "summary": "从政策背景、决策依据、出台目的、重要举措等方面解读2025年政务公开工作要点。",
    "kind": "interpretation",
    "category": "文字解读",
    "theme": "综合政务\\政务公开",
    "publisher": DEMO_DEPARTMENT["name"],
    "publisher_code": DEMO_DEPARTMENT["publisher_code"],
    "written_date": "2025-03-04",
    "doc_no": "",
    "validity": "有效",
    "keywords": ["政策解读", "政务公开"],
    "body": (
        "一、政策背景\n"
        "为全面落实国家、省关于政务公开的决策部署，不断提升政策服务水平，我市制定了2025年工作要点。\n"
        "二、重要举措\n"
        "《要点》明确做实重点领域主动公开、推进政策服务提质增效、深化政民政企互动交流等任务。\n"
        "三、解读机构及咨询方式\n"
        "政策解读单位：济南市人民政府办公厅政务公开办公室（演示）。"
    ),
    "review": _REVIEW,
}


def sample_policy(**changes: Any) -> dict[str, Any]:
    """A complete, valid policy submission (a fresh copy; keyword arguments override fields)."""
    payload = copy.deepcopy(_POLICY)
    payload.update(changes)
    return payload


def sample_interpretation(policy_id: str, **changes: Any) -> dict[str, Any]:
    """A valid interpretation of the policy with id `policy_id`."""
    payload = copy.deepcopy(_INTERPRETATION)
    payload["related"] = [{"id": policy_id, "relation": "interprets"}]
    payload.update(changes)
    return payload


def _with_check_char(body17: str) -> str:
    from schemas.vocab import _CREDIT_CHARS, _CREDIT_WEIGHTS

    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(body17, _CREDIT_WEIGHTS, strict=True))
    return body17 + _CREDIT_CHARS[(31 - total % 31) % 31]


# The policy push of the demo reaches these (fictional) businesses, one per push channel, all at the
# bundled receivers: the webhook receiver and SMTP sink `govcast run` starts, the SMS and WeChat sandboxes.
DEMO_TARGETING = {"regions": ["历下区", "高新区"], "industries": ["C39"], "qualifications": ["专精特新中小企业"]}


def demo_businesses(base_url: str, webhook_secret: str) -> list[dict[str, Any]]:
    common = {"region": "历下区", "industry": "C3911", "scale": "小型", "qualifications": ["专精特新中小企业"],
              "topics": ["科技创新"], "consent": True}
    rows = [
        ("演示智能装备有限公司", {"channels": ["webhook", "email"],
                          "webhook_url": f"{base_url}/sandbox/webhook/hooks/demo-1", "webhook_secret": webhook_secret}),
        ("演示电子信息有限公司", {"channels": ["email"], "email": "contact@demo-electronics.example"}),
        ("演示精密仪器有限公司", {"channels": ["sms", "email"], "mobile": "13800000003"}),
        ("演示新材料科技有限公司", {"channels": ["wechat_template", "sms"], "wechat_openid": "oDemoOpenid00000000000000004",
                            "mobile": "13800000004"}),
    ]
    return [common | {"credit_code": _with_check_char(f"91370100MA3DEMW0{n}"), "name": name,
                      "email": f"biz{n}@demo.example"} | extra for n, (name, extra) in enumerate(rows, start=1)]
