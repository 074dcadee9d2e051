"""Typed config of the push channel (built from settings by push_config)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, SecretStr

from adapters.base import AdapterConfig
from adapters.push.sms_client import SmsConfig, sms_config
from adapters.wechat.config import SANDBOX_TEMPLATE_ID, WechatConfig, uses_sandbox, wechat_config
from schemas.subscriber import QUIET_RE

if TYPE_CHECKING:
    from govcast.settings import Settings


class WechatTemplateConfig(AdapterConfig):
    """WeChat template messages (模板消息) of the official account `account` (its token is shared with the wechat channel)."""

    account: WechatConfig  # base URL, AppID, AppSecret (SecretStr), request timeout
    template_id: str = Field(min_length=1, max_length=128)
    fields: tuple[str, ...] = Field(default=("thing1", "thing2", "thing3"), min_length=1, max_length=3,
                                    description="data keys for the title, the publisher and the reason")
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
    mail_from: str = "govcast@localhost"
    quiet_hours: str = Field(default="21:00-08:00", pattern=QUIET_RE.pattern)
    quiet_channels: tuple[str, ...] = ("sms", "wechat_template")
    timezone: str = "Asia/Shanghai"
    wechat_template: WechatTemplateConfig | None = None  # None: no WeChat template channel
    sms: SmsConfig | None = None  # None: no SMS channel


def push_config(settings: Settings) -> AdapterConfig:
    host = settings.push_smtp_host
    if not host and settings.sandboxes and settings.push_smtp_sink_port:
        host = "127.0.0.1"  # the local SMTP sink `govcast run` starts in sandbox mode
    return PushConfig(
        wechat_template=wechat_template_config(settings),
        sms=sms_config(settings),
        webhook_timeout=settings.push_webhook_timeout_seconds,
        webhook_allowed_networks=tuple(settings.webhook_allowed_networks),
        smtp_host=host,
        smtp_port=settings.push_smtp_port if settings.push_smtp_host else (settings.push_smtp_sink_port or 25),
        smtp_user=settings.push_smtp_user, smtp_password=settings.push_smtp_password,
        smtp_starttls=settings.push_smtp_starttls, mail_from=settings.push_mail_from,
        quiet_hours=settings.push_quiet_hours, quiet_channels=tuple(settings.push_quiet_channels),
        timezone=settings.push_timezone, sandbox=not settings.push_smtp_host,
    )


def wechat_template_config(settings: Settings) -> WechatTemplateConfig | None:
    """The template channel when a template id is configured, or always with the WeChat sandbox (its demo template)."""
    sandbox = uses_sandbox(settings)
    template_id = settings.push_wechat_template_id or (SANDBOX_TEMPLATE_ID if sandbox else "")
    if not template_id:
        return None
    return WechatTemplateConfig(
        account=wechat_config(settings), template_id=template_id, fields=tuple(settings.push_wechat_template_fields),
        rate_per_second=settings.push_wechat_template_rate_per_second,
        receipt_wait_seconds=settings.push_wechat_template_receipt_wait_seconds, sandbox=sandbox)
