"""Email over SMTP: multipart text + HTML with RFC 8058 one-click unsubscribe headers."""

from __future__ import annotations

import html
import smtplib
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, ClassVar

from adapters.push.config import PushConfig
from adapters.push.message import PushMessage
from schemas.delivery import Delivered, DeliveryResult, Rejected, Retryable
from schemas.subscriber import PushChannel, Subscriber


def build_message(*, sender: str, to: str, subject: str, lines: list[str], link: str, unsubscribe_url: str,
                  unsubscribe_all_url: str, message_id: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<{message_id}@govcast>"
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    text = "\n\n".join([*lines, f"查看全文：{link}", f"退订邮件推送：{unsubscribe_url}\n退订全部推送：{unsubscribe_all_url}"])
    msg.set_content(text)
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    msg.add_alternative(
        f'<!doctype html><html lang="zh-CN"><body style="font-size:16px;line-height:1.5">{body}'
        f'<p><a href="{html.escape(link)}">查看全文</a></p>'
        f'<p style="color:#555">不想再收到？<a href="{html.escape(unsubscribe_url)}">退订邮件推送</a> · '
        f'<a href="{html.escape(unsubscribe_all_url)}">退订全部推送</a></p></body></html>', subtype="html")
    return msg


class EmailSender:
    channel: ClassVar[PushChannel] = PushChannel.email

    def __init__(self, config: PushConfig) -> None:
        self.config = config

    def send(self, sub: Subscriber, msg: PushMessage, facts: dict[str, Any]) -> DeliveryResult:
        if not sub.email:
            return Rejected(reason="no email address", code="no_contact")
        return self.submit(build_message(
            sender=self.config.mail_from, to=sub.email, lines=msg.lines(sub.name),
            subject=msg.subject_line,
            link=msg.link, unsubscribe_url=msg.unsubscribe_url, unsubscribe_all_url=msg.unsubscribe_all_url,
            message_id=msg.delivery_id))

    def close(self) -> None:
        pass

    def submit(self, msg: EmailMessage) -> DeliveryResult:
        c = self.config
        try:
            with smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=c.smtp_timeout) as smtp:
                if c.smtp_starttls:
                    smtp.starttls()
                if c.smtp_user:
                    smtp.login(c.smtp_user, c.smtp_password.get_secret_value())
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            return Rejected(reason=f"recipient refused: {exc.recipients}", code="recipient_refused")
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600:
                return Rejected(reason=f"SMTP {exc.smtp_code}", code=f"smtp_{exc.smtp_code}")
            return Retryable(reason=f"SMTP {exc.smtp_code}", retry_after=60.0)
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            return Retryable(reason=f"SMTP {type(exc).__name__}", retry_after=60.0)
        if refused:
            return Rejected(reason=f"recipient refused: {refused}", code="recipient_refused")
        return Delivered(detail="email accepted by SMTP", external_id=str(msg["Message-ID"]))
