"""Typed config of the push channel (built from settings by push_config)."""

from __future__ import annotations

from email.utils import parseaddr

from pydantic import Field, SecretStr, field_validator

from adapters.base import AdapterConfig
from adapters.common.install import Installation
from adapters.push.settings import PushSettings, push_env
from adapters.push.sms_client import SmsConfig, sms_config
from adapters.wechat.config import SANDBOX_TEMPLATE_ID, WechatConfig, uses_sandbox, wechat_config
from schemas.subscriber import QUIET_RE

# The local SMTP sink's sender (sandbox mode): a reserved example domain, never a real one.
SANDBOX_MAIL_FROM = "政策推送（演示） <push@govcast.example>"

__all__ = ["PushConfig", "PushSettings", "WechatTemplateConfig", "push_config", "push_env", "wechat_template_config"]


class WechatTemplateConfig(AdapterConfig):
    """WeChat template messages (模板消息) of the official account `account` (its token is shared with the wechat channel)."""

    account: WechatConfig  # base URL, AppID, AppSecret (SecretStr), request timeout
    template_id: str = Field(min_length=1, max_length=128)
    fields: tuple[str, ...] = Field(default=("thing1", "thing2", "thing3", "phrase4", "phone_number5"), min_length=1,
                                    max_length=5, description="data keys for the short name, the publisher, the "
                                    "reason, what the item is and the 咨询电话")
    rate_per_second: float = Field(default=50.0, gt=0)
    receipt_wait_seconds: float = Field(default=300.0, ge=0)


class PushConfig(AdapterConfig):
    webhook_timeout: float = Field(default=15.0, gt=0)
    webhook_allowed_networks: tuple[str, ...] = ()  # adapters.egress: inward networks webhooks may reach anyway
    concurrency: int = Field(default=64, ge=1, le=1024)  # sends in flight per dispatch batch
    smtp_host: str = ""  # empty: no email channel
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    smtp_timeout: float = Field(default=30.0, gt=0)
    mail_from: str = SANDBOX_MAIL_FROM
    consult_phone: str = Field(default="12345", min_length=1, max_length=17)
    quiet_hours: str = Field(default="21:00-08:00", pattern=QUIET_RE.pattern)
    quiet_channels: tuple[str, ...] = ("sms", "wechat_template")
    timezone: str = "Asia/Shanghai"
    wechat_template: WechatTemplateConfig | None = None  # None: no WeChat template channel
    sms: SmsConfig | None = None  # None: no SMS channel

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str) -> str:
        """A real address: mail from a host-local one (govcast@localhost) is rejected or junked by receivers."""
        _, address = parseaddr(value)
        domain = address.rpartition("@")[2]
        if "@" not in address or "." not in domain or domain.endswith((".localhost", ".local")):
            raise ValueError(f"GOVCAST_PUSH_MAIL_FROM must be a real sending address such as "
                             f"'济南市政策推送 <zcts@jinan.gov.cn>', not {value!r}")
        return value


def push_config(settings: Installation) -> AdapterConfig:
    host = push_env(settings).smtp_host
    if host and not push_env(settings).mail_from and not settings.sandboxes:
        raise ValueError("GOVCAST_PUSH_MAIL_FROM is required with GOVCAST_PUSH_SMTP_HOST (outside sandbox mode): the "
                         "From address of push emails, e.g. '济南市政策推送 <zcts@jinan.gov.cn>'")
    if not host and settings.sandboxes and push_env(settings).smtp_sink_port:
        host = "127.0.0.1"  # the local SMTP sink `govcast run` starts in sandbox mode
    return PushConfig(
        wechat_template=wechat_template_config(settings),
        sms=sms_config(settings),
        webhook_timeout=push_env(settings).webhook_timeout_seconds,
        webhook_allowed_networks=tuple(settings.webhook_allowed_networks),
        smtp_host=host,
        smtp_port=push_env(settings).smtp_port if push_env(settings).smtp_host else (push_env(settings).smtp_sink_port or 25),
        smtp_user=push_env(settings).smtp_user, smtp_password=push_env(settings).smtp_password,
        smtp_starttls=push_env(settings).smtp_starttls, mail_from=push_env(settings).mail_from or SANDBOX_MAIL_FROM,
        consult_phone=push_env(settings).consult_phone,
        quiet_hours=push_env(settings).quiet_hours, quiet_channels=tuple(push_env(settings).quiet_channels),
        timezone=push_env(settings).timezone, sandbox=not push_env(settings).smtp_host,
    )


def wechat_template_config(settings: Installation) -> WechatTemplateConfig | None:
    """The template channel when a template id is configured, or always with the WeChat sandbox (its demo template)."""
    sandbox = uses_sandbox(settings)
    template_id = push_env(settings).wechat_template_id or (SANDBOX_TEMPLATE_ID if sandbox else "")
    if not template_id:
        return None
    return WechatTemplateConfig(
        account=wechat_config(settings), template_id=template_id, fields=tuple(push_env(settings).wechat_template_fields),
        rate_per_second=push_env(settings).wechat_template_rate_per_second,
        receipt_wait_seconds=push_env(settings).wechat_template_receipt_wait_seconds, sandbox=sandbox)
