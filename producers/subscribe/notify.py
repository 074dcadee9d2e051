"""Confirmation messages of the subscription center, through the push channel's own email and SMS senders.

Email: a link (sign-up, change, manage). SMS: a 6-digit code in the approved verification-code template
(Aliyun's 验证码 templates take only the code; links do not fit SMS variables). In sandbox mode these reach
the SMTP sink and the SMS sandbox like every push does.
"""

from __future__ import annotations

import html
import json
import logging
import secrets
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING

from adapters.push.config import PushConfig, push_config
from adapters.push.email import EmailSender
from adapters.push.sms_client import SmsClient
from schemas.delivery import Delivered

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger("govcast.subscribe")


class Notifier:
    def __init__(self, config: PushConfig) -> None:
        self.config = config

    @classmethod
    def from_settings(cls, settings: Settings) -> Notifier:
        config = push_config(settings)
        assert isinstance(config, PushConfig)
        return cls(config)

    @property
    def can_email(self) -> bool:
        return bool(self.config.smtp_host)

    @property
    def can_sms(self) -> bool:
        return self.config.sms is not None and bool(self.config.sms.code_template_code)

    def email(self, to: str, subject: str, lines: list[str], url: str, action: str) -> bool:
        if not self.can_email:
            return False
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.config.mail_from, to, subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = f"<subscribe-{secrets.token_hex(12)}@govcast>"
        msg.set_content("\n\n".join([*lines, f"{action}：{url}", "如非本人操作，请忽略本邮件，您的信息不会被登记或更改。"]))
        escaped = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
        link = f'<p><a href="{html.escape(url)}">{html.escape(action)}</a></p>'
        msg.add_alternative(f'<!doctype html><html lang="zh-CN"><body>{escaped}{link}'
                            "<p>如非本人操作，请忽略本邮件，您的信息不会被登记或更改。</p></body></html>", subtype="html")
        result = EmailSender(self.config).submit(msg)
        if not isinstance(result, Delivered):
            log.warning("confirmation email not sent: %s", getattr(result, "reason", result))  # no address in logs
        return isinstance(result, Delivered)

    def code(self, mobile: str, code: str) -> bool:
        sms = self.config.sms
        if sms is None or not sms.code_template_code:
            return False
        client = SmsClient(sms)
        try:
            params = {"PhoneNumbers": mobile, "SignName": sms.sign_name, "TemplateCode": sms.code_template_code,
                      "TemplateParam": json.dumps({"code": code}, separators=(",", ":"))}
            status, body = client.call("SendSms", params, idempotent=False)
        except Exception as exc:  # transport failures: the page asks to try again
            log.warning("verification SMS not sent: %s", type(exc).__name__)
            return False
        finally:
            client.close()
        if body.get("Code") != "OK":
            log.warning("verification SMS refused: HTTP %s %s", status, body.get("Code"))
            return False
        return True
