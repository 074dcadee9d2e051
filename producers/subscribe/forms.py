"""Form fields of the subscription pages -> validated records, with errors in plain Chinese per field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from schemas import industries
from schemas.subscriber import SCALES, SubscriberIn
from schemas.vocab import _CREDIT_CHARS, _CREDIT_WEIGHTS

REGIONS = ("历下区", "市中区", "槐荫区", "天桥区", "历城区", "长清区", "章丘区", "济阳区", "莱芜区", "钢城区", "平阴县", "商河县",
           "高新区", "起步区", "南部山区")
QUALIFICATIONS = ("高新技术企业", "科技型中小企业", "创新型中小企业", "专精特新中小企业", '专精特新"小巨人"', "瞪羚", "独角兽")
TOPICS = ("税费减免", "融资支持", "人才", "稳岗就业", "科技创新", "数字化转型", "对外贸易", "消费", "乡村振兴", "绿色低碳")
CHANNELS = (("email", "电子邮件"), ("sms", "短信"), ("wechat_template", "微信模板消息"), ("webhook", "Webhook（企业系统对接）"))
SCALE_OPTIONS = SCALES
LIST_FIELDS = ("qualifications", "topics", "channels")

MESSAGES = {
    "name": "请填写企业名称（最多100字）。",
    "region": "请选择注册地。",
    "scale": "请选择企业规模。",
    "mobile": "手机号应为11位中国大陆手机号码，如 13800000000。",
    "email": "请填写有效的电子邮箱地址，如 name@example.com。",
    "webhook_url": "Webhook 地址应以 https:// 开头。",
    "webhook_secret": "签名密钥应为 whsec_ 开头的 Standard Webhooks 密钥。",
    "wechat_openid": "微信 OpenID 最多64个字符。",
    "quiet_hours": "免打扰时段格式如 21:00-08:00。",
    "daily_cap": "每日上限应为0到1000之间的整数（0表示不限）。",
    "qualifications": "资质选项有误。",
    "topics": "关注主题选项有误。",
}


def check_character(code17: str) -> str:
    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(code17, _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_CHARS[(31 - total % 31) % 31]


def credit_code_message(code: str) -> str | None:
    """Why `code` is not a unified social credit code, in words a business understands; None when it is."""
    code = code.strip().upper()
    if len(code) != 18:
        return f"统一社会信用代码应为18位，您填写了{len(code)}位。"
    bad = sorted({c for c in code if c not in _CREDIT_CHARS})
    if bad:
        return f"统一社会信用代码不含字符 {'、'.join(bad)}（不使用 I、O、Z、S、V）。"
    if check_character(code[:17]) != code[17]:
        return "统一社会信用代码校验位（第18位）不正确，请对照营业执照核对每一位。"
    return None


@dataclass
class FormResult:
    values: dict[str, Any]  # what the form showed, to fill it again
    errors: dict[str, str] = field(default_factory=dict)
    industry_choices: list[tuple[str, str]] = field(default_factory=list)
    record: SubscriberIn | None = None


def form_values(form: Mapping[str, Any], getlist: Any) -> dict[str, Any]:
    values: dict[str, Any] = {k: str(v).strip() for k, v in form.items() if k not in LIST_FIELDS}
    for key in LIST_FIELDS:
        values[key] = [str(v) for v in getlist(key)]
    return values


def parse_signup(values: dict[str, Any]) -> FormResult:
    result = FormResult(values)
    errors = result.errors
    if message := credit_code_message(values.get("credit_code", "")):
        errors["credit_code"] = message
    code, choices = industries.resolve(values.get("industry", ""))
    if code is None:
        errors["industry"] = "请从列表中选择一个行业（可按名称查找）。" if choices else "没有找到这个行业，请换个名称查找。"
        result.industry_choices = choices
    elif not code:
        errors["industry"] = "请选择所属行业。"
    else:
        values["industry_label"] = industries.label(code) or code  # shown again by name if the form comes back
    if values.get("region") not in REGIONS:
        errors["region"] = MESSAGES["region"]
    if values.get("scale") not in SCALES:
        errors["scale"] = MESSAGES["scale"]
    if not values.get("email") and not values.get("mobile"):
        errors["email"] = "请至少填写电子邮箱或手机号之一，用于确认订阅和管理订阅。"
    if not values["channels"]:
        errors["channels"] = "请至少选择一种接收方式。"
    if values.get("consent") != "yes":
        errors["consent"] = "请阅读并同意个人信息处理说明后提交。"
    data = {k: values.get(k) or None for k in ("mobile", "email", "webhook_url", "webhook_secret", "wechat_openid")}
    data |= {"credit_code": values.get("credit_code", "").upper(), "name": values.get("name", ""),
             "region": values.get("region", ""), "industry": code or "", "scale": values.get("scale", ""),
             "qualifications": [q for q in values["qualifications"] if q in QUALIFICATIONS],
             "topics": [t for t in values["topics"] if t in TOPICS], "channels": values["channels"]}
    record = validate(data, errors)
    if not errors:
        result.record = record
    return result


def validate(data: dict[str, Any], errors: dict[str, str]) -> SubscriberIn | None:
    """SubscriberIn from `data`, adding one message per failing field to `errors` (those not set already)."""
    try:
        return SubscriberIn.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            where = str(err["loc"][0]) if err["loc"] else ""
            if where in errors or where == "credit_code":
                continue
            if where in MESSAGES:
                errors[where] = MESSAGES[where]
            elif where == "channels" or not where:
                errors.setdefault("channels", _channel_message(str(err["msg"])))
            else:
                errors[where] = "内容有误，请检查。"
    return None


def _channel_message(text: str) -> str:
    if "webhook_secret" in text:
        return "选择 Webhook 时请填写签名密钥（whsec_ 开头）。"
    if "need their contact point" in text:
        return "所选的接收方式缺少对应的联系方式（邮箱、手机号、Webhook 地址或微信 OpenID）。"
    return "接收方式有误，请检查。"
