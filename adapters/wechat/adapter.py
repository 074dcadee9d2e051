"""WeChat adapter: cover → body images → draft → freepublish/submit → result by callback or polling; retraction deletes.

Ledger facts per delivery (channel "wechat", the delivery id) make every step idempotent:

    thumb_media_id, draft_media_id   uploaded once, reused on retries
    images, image_notes              body images uploaded with uploadimg (adapters.wechat.images)
    state                            draft → submitting → submitted → published
    publish_id (= external_ref)      what the PUBLISHJOBFINISH callback names
    callback                         the callback's result, recorded by adapters.wechat.callbacks

"submitting" is written *before* freepublish/submit: a timeout there is an unknown outcome,
reconciled by looking for the article among the published ones (freepublish/batchget, matched
by this delivery's own thumb_media_id) — never by submitting again while it may still appear.
Row `pub:<publication id>` remembers what the publication has on WeChat (publish_id, article_id,
url): a revision does not publish a second article (the article's 阅读原文 is the portal page,
which carries the revision) and a retraction knows what to delete.
"""

from __future__ import annotations

import base64
import logging
from typing import Any, ClassVar
from urllib.parse import urlsplit

from adapters.base import AdapterServices
from adapters.egress import networks
from adapters.transport import MaybeSent, NotSent, TransportError
from adapters.wechat.api import CHANNEL, WechatApi, WechatError, classify
from adapters.wechat.config import WechatConfig
from adapters.wechat.images import Fetcher, place_images, rewrite
from adapters.wechat.mass_send import MassSender
from schemas.delivery import Action, Delivered, DeliveryResult, DeliveryTask, Pending, Rejected, Retryable, UnknownOutcome

log = logging.getLogger("govcast.adapters.wechat")

PUBLISH_STATUS = {
    0: "published", 1: "publishing", 2: "originality check failed (原创审核不通过)", 3: "publish failed (常规失败)",
    4: "rejected by review (平台审核不通过)", 5: "deleted by the account after success", 6: "banned after success (封禁)",
}
_DRAFT_FIELDS = ("title", "author", "digest", "content", "content_source_url", "need_open_comment", "only_fans_can_comment")
MAX_CHECK_WAIT = 60.0


class WechatAdapter:
    channel: ClassVar[str] = CHANNEL

    def __init__(self, config: WechatConfig, services: AdapterServices) -> None:
        self.config = config
        self.ledger = services.ledger
        self.clock = services.clock
        self.api = WechatApi(config, services.ledger, services.clock)
        origin = urlsplit(services.public_url)
        self.images = Fetcher(networks(config.image_allowed_networks), f"{origin.scheme}://{origin.netloc}".lower(),
                              config.timeout_seconds)
        self.mass = MassSender(self) if config.mass_send else None

    def close(self) -> None:
        self.api.close()

    def deliver(self, task: DeliveryTask) -> DeliveryResult:
        if task.recipient is not None:
            return Rejected(reason="articles go to the whole account; use mass send for followers", code="recipient_not_supported")
        try:
            return self._retract(task) if task.action is Action.retract else self._publish(task)
        except WechatError as err:
            return classify(err, self.clock())
        except TransportError as exc:  # an idempotent step failed on the network after in-call retries
            return Retryable(reason=f"WeChat unreachable: {exc.reason}", retry_after=30.0)

    # -- publish -----------------------------------------------------------------------------

    def _publish(self, task: DeliveryTask) -> DeliveryResult:
        pub = task.publication
        facts = self.ledger.get(CHANNEL, task.delivery_id)
        state = facts.get("state")
        if self.mass is not None and facts.get("mass_day"):  # gathered for (or sent in) a mass send
            return self.mass.deliver(task)
        if state == "published":
            return self._delivered(facts, "published")
        if state == "submitted":
            return self._check(task, facts)
        if state == "submitting":
            return self._reconcile(task, facts)
        earlier = self.ledger.get(CHANNEL, self._pub_key(pub.id))
        if earlier.get("deleted"):
            return Delivered(detail="retracted meanwhile: nothing published on WeChat")
        if earlier.get("mass_msg_id") and earlier.get("delivery") != task.delivery_id:
            return Delivered(url=earlier.get("url"), external_id=f"{earlier['mass_msg_id']}#{earlier.get('idx')}",
                             detail=f"already sent to followers (version {earlier.get('version')}); its 阅读原文 link "
                                    f"shows version {pub.version} on the portal")
        if earlier.get("article_id") and earlier.get("delivery") != task.delivery_id:
            return Delivered(url=earlier.get("url"), external_id=earlier["article_id"],
                             detail=f"already on WeChat (version {earlier.get('version')}); its 阅读原文 link "
                                    f"shows version {pub.version} on the portal")
        if not task.rendition.get("content"):
            return Rejected(reason="no WeChat rendition on the task", code="content")
        if self.mass is not None:
            return self.mass.deliver(task)
        return self._submit(task, facts)

    def article(self, task: DeliveryTask, facts: dict[str, Any]) -> dict[str, Any]:
        """The draft article of `task`: its cover uploaded as the thumb (once), its body images with uploadimg."""
        rendition, key = task.rendition, task.delivery_id
        thumb = facts.get("thumb_media_id")
        if not thumb:
            cover = self._cover(task)
            answer = self.api.call("/cgi-bin/material/add_material", params={"type": "thumb"},
                                   files={"media": ("cover.jpg", cover, "image/jpeg")})
            thumb = answer["media_id"]
            self.ledger.put(CHANNEL, key, thumb_media_id=thumb, cover=rendition.get("cover_source", "generated"))
        placed, _ = place_images(self.api, self.ledger, CHANNEL, key, list(rendition.get("images") or []),
                                 self.images, task.attempt)
        article = {name: rendition[name] for name in _DRAFT_FIELDS if name in rendition}
        article["content"] = rewrite(str(article["content"]), placed)
        return {**article, "thumb_media_id": thumb}

    def _submit(self, task: DeliveryTask, facts: dict[str, Any]) -> DeliveryResult:
        key = task.delivery_id
        draft = facts.get("draft_media_id")
        if not draft:
            answer = self.api.call("/cgi-bin/draft/add", {"articles": [self.article(task, facts)]})
            draft = answer["media_id"]
            self.ledger.put(CHANNEL, key, draft_media_id=draft)
        self.ledger.put(CHANNEL, key, state="submitting", submitting_at=self.clock().timestamp())
        try:
            answer = self.api.call("/cgi-bin/freepublish/submit", {"media_id": draft}, idempotent=False)
        except NotSent as exc:
            self.ledger.put(CHANNEL, key, state="draft")
            return Retryable(reason=f"WeChat unreachable: {exc.reason}", retry_after=30.0)
        except MaybeSent as exc:
            return UnknownOutcome(reason=f"freepublish/submit: {exc.reason}", reconcile_after=self.config.poll_seconds)
        except WechatError:
            self.ledger.put(CHANNEL, key, state="draft")  # refused: a later attempt may submit again
            raise
        publish_id = str(answer["publish_id"])
        self.ledger.put(CHANNEL, key, external_ref=publish_id, state="submitted", publish_id=publish_id,
                        msg_data_id=answer.get("msg_data_id"))
        self.ledger.put(CHANNEL, self._pub_key(task.publication.id), publish_id=publish_id, delivery=key,
                        version=task.publication.version)
        return Pending(reason=f"publish job {publish_id} accepted", check_after=self._wait(task), external_id=publish_id)

    @staticmethod
    def _cover(task: DeliveryTask) -> bytes:
        """The department's cover (already a ≤ 64 KB JPEG, schemas.cover), else the generated one of the rendition."""
        cover = task.publication.cover
        if task.rendition.get("cover_source") == "department" and cover is not None:
            return base64.b64decode(cover.data)
        return base64.b64decode(task.rendition["cover_jpeg"])

    def _check(self, task: DeliveryTask, facts: dict[str, Any]) -> DeliveryResult:
        publish_id = str(facts["publish_id"])
        result = self._job_result(publish_id, facts)
        status = int(result.get("publish_status", 1))
        if status == 0:
            return self._record_published(task, result, "published")
        if status == 1:
            return Pending(reason=f"publish job {publish_id} still publishing", check_after=self._wait(task),
                           external_id=publish_id)
        self.ledger.put(CHANNEL, task.delivery_id, state="draft", last_failure=result)  # a requeue submits again
        failed = ", ".join(str(i) for i in result.get("fail_idx") or []) or "-"
        reason = f"WeChat publish job {publish_id}: {PUBLISH_STATUS.get(status, f'status {status}')} (articles {failed})"
        return Rejected(reason=reason, code=f"publish_status_{status}")

    def _job_result(self, publish_id: str, facts: dict[str, Any]) -> dict[str, Any]:
        """The callback's result if one arrived (for this delivery, or before its publish_id was recorded), else poll."""
        for candidate in (facts.get("callback"), self.ledger.get(CHANNEL, f"cb:{publish_id}").get("callback")):
            if isinstance(candidate, dict) and int(candidate.get("publish_status", 1)) != 1:
                return candidate
        try:
            answer = self.api.call("/cgi-bin/freepublish/get", {"publish_id": publish_id})
        except TransportError as exc:
            log.info("freepublish/get %s: %s; checking again later", publish_id, exc.reason)
            return {"publish_status": 1}
        return {"publish_status": answer.get("publish_status", 1), "article_id": answer.get("article_id"),
                "article_url": _first_url(answer.get("article_detail")), "fail_idx": answer.get("fail_idx") or []}

    def _reconcile(self, task: DeliveryTask, facts: dict[str, Any]) -> DeliveryResult:
        """After a submit timeout: find the article among the published ones; submit again only after the grace time."""
        found = self._find_published(str(facts.get("thumb_media_id")), task.rendition.get("content_source_url"))
        if found is not None:
            return self._record_published(task, found, "published (found after a submit timeout)")
        waited = self.clock().timestamp() - float(facts.get("submitting_at", 0))
        if waited < self.config.reconcile_grace_seconds:
            return UnknownOutcome(reason=f"submit timed out {waited:.0f} s ago and the article is not among the "
                                         "published ones yet", reconcile_after=self._wait(task, task.attempt - 1))
        log.warning("%s: no article %.0f s after a submit timeout; submitting again", task.delivery_id, waited)
        self.ledger.put(CHANNEL, task.delivery_id, state="draft")
        return self._submit(task, {**facts, "state": "draft"})

    def _find_published(self, thumb_media_id: str, source_url: str | None) -> dict[str, Any] | None:
        for offset in (0, 20):  # the newest 40 articles: a timed-out submit is recent
            answer = self.api.call("/cgi-bin/freepublish/batchget", {"offset": offset, "count": 20, "no_content": 1})
            for item in answer.get("item") or []:
                for idx, news in enumerate((item.get("content") or {}).get("news_item") or [], start=1):
                    if news.get("thumb_media_id") == thumb_media_id and not news.get("is_deleted"):
                        if source_url and news.get("content_source_url") not in (None, source_url):
                            continue
                        return {"publish_status": 0, "article_id": item.get("article_id"), "article_url": news.get("url"),
                                "idx": idx}
            if int(answer.get("item_count") or 0) < 20:
                break
        return None

    def _record_published(self, task: DeliveryTask, result: dict[str, Any], detail: str) -> DeliveryResult:
        facts = self.ledger.put(CHANNEL, task.delivery_id, state="published", article_id=result.get("article_id"),
                                url=result.get("article_url"))
        self.ledger.put(CHANNEL, self._pub_key(task.publication.id), article_id=result.get("article_id"),
                        url=result.get("article_url"), delivery=task.delivery_id, version=task.publication.version)
        return self._delivered(facts, detail)

    @staticmethod
    def _delivered(facts: dict[str, Any], detail: str) -> Delivered:
        if facts.get("cover") == "department":
            detail += "; cover: the department's own"
        images = facts.get("images") or {}
        if images:
            uploaded = sum(1 for url in images.values() if url)
            detail += f"; {uploaded} of {len(images)} body images uploaded"
            if facts.get("image_notes"):
                detail += " (left as 〔图片请见原文〕: " + "; ".join(facts["image_notes"])[:300] + ")"
        return Delivered(url=facts.get("url"), external_id=facts.get("article_id"), detail=detail)

    # -- retract -----------------------------------------------------------------------------

    def _retract(self, task: DeliveryTask) -> DeliveryResult:
        key = self._pub_key(task.publication.id)
        record = self.ledger.get(CHANNEL, key)
        if record.get("deleted"):
            return Delivered(url=record.get("url"), detail="deleted from the official account")
        if record.get("mass_msg_id"):  # sent by mass send: its article's page is deleted (received cards stay)
            self.api.call("/cgi-bin/message/mass/delete", {"msg_id": int(record["mass_msg_id"]),
                                                           "article_idx": int(record.get("idx") or 0)})
            self.ledger.put(CHANNEL, key, deleted=True, deleted_at=self.clock().isoformat())
            return Delivered(url=record.get("url"), detail="deleted from the followers' mass-sent message")
        if not record.get("article_id") and record.get("publish_id"):
            # the publish job may have finished without the publish delivery having seen it yet
            publish = self.ledger.get(CHANNEL, str(record.get("delivery")))
            result = self._job_result(str(record["publish_id"]), publish)
            status = int(result.get("publish_status", 1))
            if status == 1:
                return Retryable(reason="the publish job is still running; deleting once it ends",
                                 retry_after=self.config.poll_seconds)
            if status == 0:
                record = self.ledger.put(CHANNEL, key, article_id=result.get("article_id"), url=result.get("article_url"))
        if not record.get("article_id"):
            self.ledger.put(CHANNEL, key, deleted=True, deleted_at=self.clock().isoformat())
            return Delivered(detail="nothing was published on WeChat")
        self.api.call("/cgi-bin/freepublish/delete", {"article_id": record["article_id"], "index": 0})
        self.ledger.put(CHANNEL, key, deleted=True, deleted_at=self.clock().isoformat())
        return Delivered(url=record.get("url"), detail="deleted from the official account")

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _pub_key(publication_id: str) -> str:
        return f"pub:{publication_id}"[:64]

    def _wait(self, task: DeliveryTask, step: int | None = None) -> float:
        """Growing wait between checks of a publish job: poll_seconds, doubling, at most a minute."""
        n = task.checks if step is None else step
        return min(self.config.poll_seconds * 2 ** min(n, 10), MAX_CHECK_WAIT)


def _first_url(detail: Any) -> str | None:
    items = (detail or {}).get("item") or [] if isinstance(detail, dict) else []
    return str(items[0].get("article_url")) if items and items[0].get("article_url") else None
