"""Typed config of the push channel (built from settings by push_config)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, SecretStr

from adapters.base import AdapterConfig
from schemas.subscriber import QUIET_RE

if TYPE_CHECKING:
    from govcast.settings import Settings


class PushConfig(AdapterConfig):
    webhook_timeout: float = Field(default=15.0, gt=0)
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


def push_config(settings: Settings) -> AdapterConfig:
    host = settings.push_smtp_host
    if not host and settings.sandboxes and settings.push_smtp_sink_port:
        host = "127.0.0.1"  # the local SMTP sink `govcast run` starts in sandbox mode
    return PushConfig(
        webhook_timeout=settings.push_webhook_timeout_seconds,
        smtp_host=host,
        smtp_port=settings.push_smtp_port if settings.push_smtp_host else (settings.push_smtp_sink_port or 25),
        smtp_user=settings.push_smtp_user, smtp_password=settings.push_smtp_password,
        smtp_starttls=settings.push_smtp_starttls, mail_from=settings.push_mail_from,
        quiet_hours=settings.push_quiet_hours, quiet_channels=tuple(settings.push_quiet_channels),
        timezone=settings.push_timezone, sandbox=not settings.push_smtp_host,
    )
