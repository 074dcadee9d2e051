"""The push adapter: one business, its preferred channels in order, pacing and fallback.

Per task (one recipient): skip businesses that withdrew consent or unsubscribed; try the
preferred channels in order, falling back to the next when one fails permanently (a webhook
answering 410 is disabled for good); a transient failure retries the same channel later.
Quiet hours and daily caps defer a push (see `deferral`) without spending attempts.
Effects are idempotent by delivery id: the ledger remembers the channel that carried it.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import ClassVar
from zoneinfo import ZoneInfo

from adapters.base import AdapterServices
from adapters.push.config import PushConfig
from adapters.push.email import EmailSender, build_message
from adapters.push.unsubscribe import make_token
from adapters.push.webhook import WebhookSender
from processors.status.subscribers import SubscriberStore
from processors.target import Directory, why
from schemas.delivery import Action, Delivered, DeliveryResult, DeliveryTask, Rejected
from schemas.subscriber import PushChannel, Subscriber


def parse_window(text: str) -> tuple[dt.time, dt.time]:
    start, end = text.split("-")
    return dt.time.fromisoformat(start), dt.time.fromisoformat(end)


def quiet_until(local: dt.datetime, window: str) -> dt.datetime | None:
    """End of the quiet window `local` falls in (window may span midnight), else None."""
    start, end = parse_window(window)
    t = local.timetz().replace(tzinfo=None)
    inside = (start <= t < end) if start <= end else (t >= start or t < end)
    if not inside or start == end:
        return None
    until = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return until if until > local else until + dt.timedelta(days=1)


class PushAdapter:
    channel: ClassVar[str] = "push"

    def __init__(self, config: PushConfig, services: AdapterServices) -> None:
        self.config, self.services = config, services
        self.ledger = services.ledger
        self.store = SubscriberStore(services.ledger.engine)
        self.directory = Directory(self.store)
        self.tz = ZoneInfo(config.timezone)
        self.webhook = WebhookSender(config.webhook_timeout)
        self.email = EmailSender(config) if config.smtp_host else None
        self._unsub_secret: str | None = None

    @property
    def unsubscribe_secret(self) -> str:
        if self._unsub_secret is None:
            self._unsub_secret = self.store.secret("unsubscribe")
        return self._unsub_secret

    def unsubscribe_url(self, credit_code: str, channel: str) -> str:
        return f"{self.services.public_url}/u/{make_token(self.unsubscribe_secret, credit_code, channel)}"

    def _candidates(self, sub: Subscriber, task: DeliveryTask) -> list[PushChannel]:
        failed = set(self.ledger.get("push", task.delivery_id).get("failed", []))
        return [c for c in sub.reachable_channels() if c.value not in failed]

    def deferral(self, task: DeliveryTask, now: dt.datetime) -> tuple[dt.datetime, str] | None:
        """When the push must wait (quiet hours of the channel it will use, or the business's daily cap)."""
        sub = self.store.get(task.recipient or "")
        if sub is None or task.action is not Action.publish:
            return None
        candidates = self._candidates(sub, task)
        if not candidates:
            return None
        local = now.astimezone(self.tz)
        if candidates[0].value in self.config.quiet_channels:
            until = quiet_until(local, sub.quiet_hours or self.config.quiet_hours)
            if until is not None:
                return until.astimezone(dt.UTC), f"quiet hours ({candidates[0].value})"
        if sub.daily_cap and self.store.delivered_on(sub.credit_code, local.date().isoformat()) >= sub.daily_cap:
            midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), self.tz)
            return midnight.astimezone(dt.UTC), f"daily cap of {sub.daily_cap} reached"
        return None

    def deliver(self, task: DeliveryTask) -> DeliveryResult:
        if task.action is Action.retract:
            return Delivered(detail="pushed messages cannot be recalled")
        if task.recipient is None:
            return Rejected(reason="channel-wide push tasks are fanned out by the target stage", code="no_recipient")
        pub = task.publication
        facts = self.ledger.get("push", task.delivery_id)
        if facts.get("delivered_via"):
            return Delivered(detail=f"already delivered via {facts['delivered_via']}")
        sub = self.store.get(task.recipient)
        if sub is None or not sub.reachable_channels():
            reason = "not in the directory" if sub is None else "no consent, unsubscribed or no reachable channel"
            self.store.record(task.delivery_id, pub.id, pub.version, task.recipient, "skipped", detail=reason)
            return Rejected(reason=reason, code="skipped")
        for channel in self._candidates(sub, task):
            result = self._send(channel, sub, task)
            if isinstance(result, Delivered):
                self.ledger.put("push", task.delivery_id, delivered_via=channel.value)
                day = self.services.clock().astimezone(self.tz).date().isoformat()
                self.store.record(task.delivery_id, pub.id, pub.version, sub.credit_code, "delivered",
                                  channel=channel.value, detail=result.detail, day=day)
                return result.model_copy(update={"detail": f"{channel.value}: {result.detail}"})
            if isinstance(result, Rejected):  # permanent on this channel: fall back to the next one
                if channel is PushChannel.webhook and result.code == "gone":
                    self.store.disable_webhook(sub.credit_code)
                failed = [*self.ledger.get("push", task.delivery_id).get("failed", []), channel.value]
                self.ledger.put("push", task.delivery_id, failed=failed, **{f"error_{channel.value}": result.reason})
                continue
            return result  # transient: the same channel again later
        reason = "every preferred channel failed permanently"
        self.store.record(task.delivery_id, pub.id, pub.version, sub.credit_code, "failed", detail=reason)
        return Rejected(reason=reason, code="all_channels_failed")

    def _lines(self, sub: Subscriber, task: DeliveryTask) -> list[str]:
        r, pub = task.rendition, task.publication
        return [line for line in (f"{sub.name}：", f"{pub.publisher}发布《{pub.title}》。", r.get("summary", ""),
                                  why(sub, pub.targeting)) if line]

    def _send(self, channel: PushChannel, sub: Subscriber, task: DeliveryTask) -> DeliveryResult:
        pub, link = task.publication, task.rendition.get("url", self.services.public_url)
        if channel is PushChannel.webhook and sub.webhook_url and sub.webhook_secret:
            payload = {"type": "policy.published", "timestamp": self.services.clock().isoformat(), "data": {
                "publication_id": pub.id, "version": pub.version, "title": pub.title, "publisher": pub.publisher,
                "doc_no": pub.doc_no, "summary": task.rendition.get("summary", ""), "url": link,
                "reason": why(sub, pub.targeting), "credit_code": sub.credit_code}}
            return self.webhook.send(sub.webhook_url, sub.webhook_secret.get_secret_value(), task.delivery_id,
                                     int(time.time()), payload)
        if channel is PushChannel.email and sub.email:
            if self.email is None:
                return Rejected(reason="no SMTP server configured", code="not_configured")
            msg = build_message(sender=self.config.mail_from, to=sub.email, subject=f"【政策推送】{pub.title}",
                                lines=self._lines(sub, task), link=link,
                                unsubscribe_url=self.unsubscribe_url(sub.credit_code, "email"),
                                unsubscribe_all_url=self.unsubscribe_url(sub.credit_code, "all"),
                                message_id=task.delivery_id)
            return self.email.send(msg)
        return Rejected(reason=f"the {channel.value} push channel is not available yet", code="not_configured")

    def close(self) -> None:
        self.webhook.close()
