"""The push adapter: one business, its preferred channels in order, pacing and fallback.

Per task (one recipient): skip businesses that withdrew consent or unsubscribed; try the
preferred channels in order, falling back to the next when one fails permanently (a webhook
answering 410 is disabled for good); a transient failure retries the same channel later.
Quiet hours and daily caps defer a push (see `deferral`) without spending attempts.
Effects are idempotent by delivery id: the recipient's row (push_recipients) says delivered, and the ledger
remembers what more than one attempt needs (the platform's id awaiting a receipt, channels that failed).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast
from zoneinfo import ZoneInfo

from adapters.base import AdapterServices
from adapters.common.wording import kind_label, subject
from adapters.push.config import PushConfig
from adapters.push.email import EmailSender
from adapters.push.message import REVISED_EVENT, AsyncSender, PushMessage, PushSender, ReceiptSender
from adapters.push.sms import SmsSender
from adapters.push.targeting import Directory, DirectoryView, why
from adapters.push.unsubscribe import make_token
from adapters.push.webhook import WebhookSender
from adapters.push.webhook_client import WebhookClient
from adapters.push.wechat_template import WechatTemplateSender
from persistence.push_recipients import RecipientUpdate
from persistence.subscribers import SubscriberStore
from schemas.delivery import Action, Deferral, Delivered, DeliveryResult, DeliveryTask, Pending, Rejected
from schemas.publication import Publication
from schemas.subscriber import PushChannel, Subscriber

PLAIN_DELIVERY = frozenset({"delivered_via", "awaiting"})  # the facts of a delivery that needed one attempt
# The rendition's entries a message is made of (with the publication version, they fix the shared part).
SHARED_RENDITION = ("summary", "url", "event", "replacement_title", "replacement_url", "label", "subject")


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


@dataclass(slots=True)
class Job:
    """One business's push within a dispatch batch; its ledger and recipient writes are saved together."""

    task: DeliveryTask
    sub: Subscriber | None
    facts: dict[str, Any]
    state: str | None = None  # the recipient's state in push_recipients ("delivered": done already)
    in_ledger: bool = False  # earlier attempts left facts
    day: str = ""  # the local date of this batch (daily caps count deliveries per day)
    reachable: list[PushChannel] = field(default_factory=list)  # the business's channels it can be reached on
    changes: dict[str, Any] = field(default_factory=dict)
    ref: str | None = None
    record: RecipientUpdate | None = None

    def put(self, ref: str | None = None, **facts: Any) -> None:
        self.facts.update(facts)
        self.changes.update(facts)
        self.ref = ref or self.ref

    @property
    def done(self) -> bool:
        return bool(self.facts.get("delivered_via")) or self.state == "delivered"

    @property
    def ledger_entry(self) -> tuple[dict[str, Any], str | None] | None:
        """What the ledger must remember, if anything. A first attempt delivered at once (a webhook's 2xx) needs
        no entry: its recipient row says delivered, in the same batch write, and is what replays check."""
        if not (self.changes or self.ref):
            return None
        if not self.in_ledger and self.ref is None and self.changes.keys() <= PLAIN_DELIVERY:
            return None
        return self.changes, self.ref

    def set_state(self, status: str, *, channel: str | None = None, detail: str | None = None,
                  day: str | None = None) -> None:
        pub = self.task.publication
        self.record = RecipientUpdate(self.task.delivery_id, pub.id, pub.version, self.task.recipient or "", status,
                                      channel, detail, day)


class PushAdapter:
    channel: ClassVar[str] = "push"

    def __init__(self, config: PushConfig, services: AdapterServices) -> None:
        self.config, self.services = config, services
        self.ledger = services.ledger
        self.store = SubscriberStore(services.ledger.engine)
        # Kafka mode: govcast.directory_sync puts the TopicDirectory (the compacted directory topic) here.
        self.directory: DirectoryView = Directory(self.store)
        self.tz = ZoneInfo(config.timezone)
        self.senders: dict[PushChannel, PushSender] = build_senders(config, services)
        self._unsub_secret: str | None = None
        self._http: tuple[asyncio.AbstractEventLoop, WebhookClient] | None = None
        self._messages: dict[tuple[Any, ...], PushMessage] = {}
        self._last_message: tuple[Publication, dict[str, Any], PushChannel, PushMessage] | None = None

    @property
    def unsubscribe_secret(self) -> str:
        if self._unsub_secret is None:
            self._unsub_secret = self.store.secret("unsubscribe")
        return self._unsub_secret

    def unsubscribe_url(self, credit_code: str, channel: str, campaign: str = "") -> str:
        return f"{self.services.public_url}/u/{make_token(self.unsubscribe_secret, credit_code, channel, campaign)}"

    @staticmethod
    def _candidates(job: Job) -> list[PushChannel]:
        task, failed = job.task, set(job.facts.get("failed", []))
        found = [c for c in job.reachable if c.value not in failed]
        if task.rendition.get("event") == REVISED_EVENT:  # for the business's systems only: people were told once
            return [c for c in found if c is PushChannel.webhook]
        return found

    def message(self, sub: Subscriber, task: DeliveryTask, channel: PushChannel) -> PushMessage:
        pub, with_links = task.publication, channel is PushChannel.email
        # The shared message's fields with this business's own (not dataclasses.replace, which looks up every field
        # by name: 5 % of a push's CPU at 100,000 businesses).
        return PushMessage(**{
            **vars(self._shared_message(task, channel)), "delivery_id": task.delivery_id,
            "reason": why(sub, pub.targeting),
            # Only emails carry unsubscribe links (SMS and WeChat templates have no room; webhooks are machines).
            "unsubscribe_url": self.unsubscribe_url(sub.credit_code, channel.value, pub.id) if with_links else "",
            "unsubscribe_all_url": self.unsubscribe_url(sub.credit_code, "all", pub.id) if with_links else "",
            "sent_at": time.time()})  # real time, not the pipeline clock: receivers check signature timestamps

    def _shared_message(self, task: DeliveryTask, channel: PushChannel) -> PushMessage:
        """What every recipient's message of one publication version, event and channel shares: rendered once,
        not once per business (the cache is small: keys differ per publication version, event and channel)."""
        pub, r = task.publication, task.rendition
        last = self._last_message
        # The tasks of a fan-out chunk share their publication and rendition objects: the same objects (held here,
        # so their ids cannot be reused) are the same message, without building the key for every business.
        if last is not None and last[0] is pub and last[1] is r and last[2] is channel:
            return last[3]
        key = (pub.id, pub.version, pub.validity, pub.change_note, channel, *(r.get(k) for k in SHARED_RENDITION))
        found = self._messages.get(key)
        if found is not None:
            self._last_message = (pub, r, channel, found)
            return found
        if len(self._messages) >= 64:
            self._messages.clear()
        found = self._messages[key] = PushMessage(
            delivery_id="", publication_id=pub.id, version=pub.version, title=pub.title,
            publisher=pub.publisher, doc_no=pub.doc_no, summary=r.get("summary", ""), reason="",
            url=r.get("url", self.services.public_url), link=f"{self.services.public_url}/go/{pub.id}?c={channel.value}",
            unsubscribe_url="", unsubscribe_all_url="", sent_at=0.0,
            event=r.get("event", "policy.published"), validity=pub.validity.value, index_no=pub.index_no_text,
            publish_date=pub.publish_date.isoformat() if pub.publish_date else "",
            replacement_title=r.get("replacement_title", ""), replacement_url=r.get("replacement_url", ""),
            label=r.get("label") or kind_label(pub.kind, pub.targeting, pub.keywords),
            subject=r.get("subject") or subject(pub.title), kind=pub.kind.value, consult_phone=self.config.consult_phone,
            change_note=pub.change_note)
        self._last_message = (pub, r, channel, found)
        return found

    # -- batches ------------------------------------------------------------------
    def _load(self, tasks: list[DeliveryTask], states: Mapping[str, str] | None = None) -> list[Job]:
        """The batch's jobs: ledger facts, recipient states (unless the caller read them already) and records."""
        ids = [t.delivery_id for t in tasks]
        facts = self.ledger.get_many("push", ids)
        if states is None:
            states = self.store.recipient_states(ids)
        subs = self.directory.get_many([t.recipient for t in tasks if t.recipient])
        day = self.services.clock().astimezone(self.tz).date().isoformat()
        jobs = [Job(t, subs.get(t.recipient or ""), facts.get(t.delivery_id, {}), states.get(t.delivery_id),
                    t.delivery_id in facts, day) for t in tasks]
        for job in jobs:
            job.reachable = job.sub.reachable_channels() if job.sub is not None else []
        return jobs

    def _deferrals(self, jobs: list[Job], now: dt.datetime) -> dict[str, Deferral]:
        local = now.astimezone(self.tz)
        capped = [j.sub.credit_code for j in jobs if j.sub is not None and j.sub.daily_cap]
        today = self.store.delivered_counts(capped, local.date().isoformat()) if capped else {}
        out: dict[str, Deferral] = {}
        for job in jobs:
            sub, task = job.sub, job.task
            if sub is None or task.action is not Action.publish or task.checks or job.done:
                continue  # nothing to send, or a message already with the platform (awaiting its receipt)
            candidates = self._candidates(job)
            if not candidates:
                continue
            if candidates[0].value in self.config.quiet_channels:
                until = quiet_until(local, sub.quiet_hours or self.config.quiet_hours)
                if until is not None:
                    out[task.delivery_id] = Deferral(until.astimezone(dt.UTC), f"quiet hours ({candidates[0].value})")
                    continue
            if sub.daily_cap:
                if today.get(sub.credit_code, 0) >= sub.daily_cap:
                    midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), self.tz)
                    out[task.delivery_id] = Deferral(midnight.astimezone(dt.UTC),
                                                     f"daily cap of {sub.daily_cap} reached")
                else:  # pushes to the same business later in this batch count too
                    today[sub.credit_code] = today.get(sub.credit_code, 0) + 1
        return out

    def deferral(self, task: DeliveryTask, now: dt.datetime) -> tuple[dt.datetime, str] | None:
        found = self._deferrals(self._load([task]), now).get(task.delivery_id)
        return (found.until, found.reason) if found else None

    async def deliver_many(self, tasks: list[DeliveryTask], now: dt.datetime | None = None,
                           http: WebhookClient | None = None, *, states: Mapping[str, str] | None = None
                           ) -> dict[str, DeliveryResult | Deferral]:
        """Dispatch a batch: one read of ledger and directory, sends in parallel, one write of the results.

        With `now`, pushes that must wait (quiet hours, daily cap) come back as `Deferral`s instead. `states`:
        the recipients' states in push_recipients, when the caller has just read them (saves reading them again).
        """
        jobs = await asyncio.to_thread(self._load, tasks, states)
        deferred = await asyncio.to_thread(self._deferrals, jobs, now) if now is not None else {}
        todo = [job for job in jobs if job.task.delivery_id not in deferred]
        client = http or self._client()
        results: list[DeliveryResult | None] = [None] * len(todo)
        turns = iter(range(len(todo)))  # shared by the workers: each takes the next job when it is free

        async def worker() -> None:
            for n in turns:
                results[n] = await self._run(todo[n], client)

        # `concurrency` workers, each running its jobs one after another, rather than a task and a semaphore
        # wait per business: at 100,000 businesses the per-business task and gate were ~9 % of the CPU.
        await asyncio.gather(*(worker() for _ in range(min(self.config.concurrency, len(todo)))))
        await asyncio.to_thread(self._save, jobs)
        done = {j.task.delivery_id: r for j, r in zip(todo, results, strict=True) if r is not None}
        return {**done, **deferred}

    def _client(self) -> WebhookClient:
        """One webhook client (its keep-alive connections) per event loop (the host's lives as long as the process)."""
        loop = asyncio.get_running_loop()
        if self._http is None or self._http[0] is not loop:
            self._http = (loop, WebhookClient(self.config.webhook_allowed_networks))
        return self._http[1]

    def deliver(self, task: DeliveryTask) -> DeliveryResult:
        async def once() -> DeliveryResult | Deferral:
            http = WebhookClient(self.config.webhook_allowed_networks)
            try:
                return (await self.deliver_many([task], http=http))[task.delivery_id]
            finally:
                await http.close()

        result = asyncio.run(once())
        assert not isinstance(result, Deferral)
        return result

    def _save(self, jobs: list[Job]) -> None:
        self.ledger.put_many("push", {j.task.delivery_id: entry for j in jobs if (entry := j.ledger_entry) is not None})
        self.store.record_many([j.record for j in jobs if j.record is not None])
        for job in jobs:
            if job.sub is not None and job.changes.get("gone"):
                self.store.disable_webhook(job.sub.credit_code)

    @staticmethod
    async def _send(sender: PushSender, job: Job, msg: PushMessage, http: WebhookClient,
                    check: bool = False) -> DeliveryResult:
        assert job.sub is not None  # (hasattr, not isinstance: Protocol checks are slow at thousands per second)
        if check and hasattr(sender, "check"):
            return await asyncio.to_thread(cast(ReceiptSender, sender).check, job.sub, msg, dict(job.facts))
        if hasattr(sender, "send_async"):
            return await cast(AsyncSender, sender).send_async(job.sub, msg, dict(job.facts), http)
        return await asyncio.to_thread(sender.send, job.sub, msg, dict(job.facts))

    async def _run(self, job: Job, http: WebhookClient) -> DeliveryResult:
        task, sub = job.task, job.sub
        if task.action is Action.retract:
            return Delivered(detail="pushed messages cannot be recalled")
        if task.recipient is None:
            return Rejected(reason="channel-wide push tasks are fanned out by the target stage", code="no_recipient")
        if job.done:
            return Delivered(detail=f"already delivered via {job.facts.get('delivered_via') or 'push'}")
        if sub is None or not job.reachable:
            reason = "not in the directory" if sub is None else "no consent, unsubscribed or no reachable channel"
            state = "unsubscribed" if sub is not None and sub.unsubscribed else "skipped"
            job.set_state(state, detail=reason)
            return Rejected(reason=reason, code=state)
        awaiting = job.facts.get("awaiting")
        if awaiting:  # the platform accepted it earlier: read its receipt
            sender = self.senders.get(PushChannel(awaiting))
            if sender is not None and hasattr(sender, "check"):
                msg = self.message(sub, task, sender.channel)
                done = self._outcome(job, sender.channel, await self._send(sender, job, msg, http, check=True))
                if done is not None:
                    return done
        for channel in self._candidates(job):
            found = self.senders.get(channel)
            if found is None:
                result: DeliveryResult = Rejected(reason=f"the {channel.value} push channel is not configured",
                                                  code="not_configured")
            else:
                result = await self._send(found, job, self.message(sub, task, channel), http)
            done = self._outcome(job, channel, result)
            if done is not None:
                return done
        job.set_state("failed", detail="every preferred channel failed permanently")
        return Rejected(reason="every preferred channel failed permanently", code="all_channels_failed")

    def _outcome(self, job: Job, channel: PushChannel, result: DeliveryResult) -> DeliveryResult | None:
        """Record what one channel's attempt means; None: it failed for good, try the next channel."""
        if isinstance(result, Delivered):
            job.put(delivered_via=channel.value, awaiting=None)
            job.set_state("delivered", channel=channel.value, detail=result.detail, day=job.day)
            # (A new result rather than model_copy, which copies the model's dicts one by one: cheaper per push.)
            return Delivered(url=result.url, external_id=result.external_id, detail=f"{channel.value}: {result.detail}")
        if isinstance(result, Pending):  # accepted by the platform; its receipt will tell
            job.put(f"{channel.value}:{result.external_id}" if result.external_id else None, awaiting=channel.value)
            job.set_state("sent", channel=channel.value, detail=result.reason)
            return result
        if isinstance(result, Rejected):  # permanent on this channel: fall back to the next one
            gone = channel is PushChannel.webhook and result.code == "gone"
            facts: dict[str, Any] = {"failed": [*job.facts.get("failed", []), channel.value], "awaiting": None,
                                     f"error_{channel.value}": result.reason}
            if gone:
                facts["gone"] = True
            job.put(**facts)
            return None
        return result  # transient: the same channel again later

    async def aclose(self) -> None:
        """Called by the host on its own event loop when it stops."""
        if self._http is not None:
            await self._http[1].close()
            self._http = None

    def close(self) -> None:
        for sender in self.senders.values():
            sender.close()
        self.directory.close()  # the Kafka directory stops its consumer thread


def build_senders(config: PushConfig, services: AdapterServices) -> dict[PushChannel, PushSender]:
    """The explicit list of push sub-channels this installation can use."""
    senders: dict[PushChannel, PushSender] = {PushChannel.webhook: WebhookSender(config.webhook_timeout,
                                                                                      config.webhook_allowed_networks)}
    if config.smtp_host:
        senders[PushChannel.email] = EmailSender(config)
    if config.wechat_template is not None:  # a template id is configured, or the WeChat sandbox's demo template
        senders[PushChannel.wechat_template] = WechatTemplateSender(config.wechat_template, services)
    if config.sms is not None:  # Aliyun SMS is configured, or the bundled SMS sandbox
        senders[PushChannel.sms] = SmsSender(config.sms, services)
    return senders
