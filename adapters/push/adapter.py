"""The push adapter: one business, its preferred channels in order, pacing and fallback.

Per task (one recipient): skip businesses that withdrew consent or unsubscribed; try the
preferred channels in order, falling back to the next when one fails permanently (a webhook
answering 410 is disabled for good); a transient failure retries the same channel later.
Quiet hours and daily caps defer a push (see `deferral`) without spending attempts.
Effects are idempotent by delivery id: the ledger remembers the channel that carried it.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar
from zoneinfo import ZoneInfo

from adapters.base import AdapterServices
from adapters.push.config import PushConfig
from adapters.push.email import EmailSender
from adapters.push.message import PushMessage, PushSender, ReceiptSender
from adapters.push.unsubscribe import make_token
from adapters.push.webhook import WebhookSender
from processors.status.subscribers import SubscriberStore
from processors.target import Directory, why
from schemas.delivery import Action, Delivered, DeliveryResult, DeliveryTask, Pending, Rejected
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
        self.senders: dict[PushChannel, PushSender] = build_senders(config, services)
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
        sub = self.directory.get(task.recipient or "")
        if sub is None or task.action is not Action.publish or task.checks:
            return None  # a message already with the platform (awaiting its receipt) is not held back
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

    def message(self, sub: Subscriber, task: DeliveryTask, channel: PushChannel) -> PushMessage:
        pub, r = task.publication, task.rendition
        return PushMessage(
            delivery_id=task.delivery_id, publication_id=pub.id, version=pub.version, title=pub.title,
            publisher=pub.publisher, doc_no=pub.doc_no, summary=r.get("summary", ""), reason=why(sub, pub.targeting),
            url=r.get("url", self.services.public_url), link=f"{self.services.public_url}/go/{pub.id}?c={channel.value}",
            unsubscribe_url=self.unsubscribe_url(sub.credit_code, channel.value),
            unsubscribe_all_url=self.unsubscribe_url(sub.credit_code, "all"),
            sent_at=self.services.clock().timestamp())

    def deliver(self, task: DeliveryTask) -> DeliveryResult:
        if task.action is Action.retract:
            return Delivered(detail="pushed messages cannot be recalled")
        if task.recipient is None:
            return Rejected(reason="channel-wide push tasks are fanned out by the target stage", code="no_recipient")
        pub = task.publication
        facts = self.ledger.get("push", task.delivery_id)
        if facts.get("delivered_via"):
            return Delivered(detail=f"already delivered via {facts['delivered_via']}")
        sub = self.directory.get(task.recipient)
        if sub is None or not sub.reachable_channels():
            reason = "not in the directory" if sub is None else "no consent, unsubscribed or no reachable channel"
            state = "unsubscribed" if sub is not None and sub.unsubscribed else "skipped"
            self.store.record(task.delivery_id, pub.id, pub.version, task.recipient, state, detail=reason)
            return Rejected(reason=reason, code=state)
        awaiting = facts.get("awaiting")
        if awaiting:  # the platform accepted it earlier: read its receipt
            sender = self.senders.get(PushChannel(awaiting))
            if isinstance(sender, ReceiptSender):
                done = self._outcome(sender.channel, sub, task,
                                     sender.check(sub, self.message(sub, task, sender.channel), facts))
                if done is not None:
                    return done
        for channel in self._candidates(sub, task):
            sender = self.senders.get(channel)
            if sender is None:
                result: DeliveryResult = Rejected(reason=f"the {channel.value} push channel is not configured",
                                                  code="not_configured")
            else:
                result = sender.send(sub, self.message(sub, task, channel), self.ledger.get("push", task.delivery_id))
            done = self._outcome(channel, sub, task, result)
            if done is not None:
                return done
        reason = "every preferred channel failed permanently"
        self.store.record(task.delivery_id, pub.id, pub.version, sub.credit_code, "failed", detail=reason)
        return Rejected(reason=reason, code="all_channels_failed")

    def _outcome(self, channel: PushChannel, sub: Subscriber, task: DeliveryTask,
                 result: DeliveryResult) -> DeliveryResult | None:
        """Record what one channel's attempt means; None: it failed for good, try the next channel."""
        pub = task.publication
        if isinstance(result, Delivered):
            self.ledger.put("push", task.delivery_id, delivered_via=channel.value, awaiting=None)
            day = self.services.clock().astimezone(self.tz).date().isoformat()
            self.store.record(task.delivery_id, pub.id, pub.version, sub.credit_code, "delivered",
                              channel=channel.value, detail=result.detail, day=day)
            return result.model_copy(update={"detail": f"{channel.value}: {result.detail}"})
        if isinstance(result, Pending):  # accepted by the platform; its receipt will tell
            ref = f"{channel.value}:{result.external_id}" if result.external_id else None
            self.ledger.put("push", task.delivery_id, external_ref=ref, awaiting=channel.value)
            self.store.record(task.delivery_id, pub.id, pub.version, sub.credit_code, "sent",
                              channel=channel.value, detail=result.reason)
            return result
        if isinstance(result, Rejected):  # permanent on this channel: fall back to the next one
            if channel is PushChannel.webhook and result.code == "gone":
                self.store.disable_webhook(sub.credit_code)
            failed = [*self.ledger.get("push", task.delivery_id).get("failed", []), channel.value]
            self.ledger.put("push", task.delivery_id, failed=failed, awaiting=None,
                            **{f"error_{channel.value}": result.reason})
            return None
        return result  # transient: the same channel again later

    def close(self) -> None:
        for sender in self.senders.values():
            sender.close()


def build_senders(config: PushConfig, services: AdapterServices) -> dict[PushChannel, PushSender]:
    """The explicit list of push sub-channels this installation can use."""
    senders: dict[PushChannel, PushSender] = {PushChannel.webhook: WebhookSender(config.webhook_timeout)}
    if config.smtp_host:
        senders[PushChannel.email] = EmailSender(config)
    return senders
