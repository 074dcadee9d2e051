"""The hotline adapter: the knowledge-base entry follows its publication.

publish (有效) → `PUT /v1/entries/{source_id}` with the rendition and the version (created, or updated in
place); publish of a version that is 失效/废止 → withdraw (下架) naming why; retract → withdraw for good
(`final`: the entry is closed, a late retry of an earlier publish cannot bring it back). The knowledge base
keys entries by the publication id and refuses versions older than the one it holds, so every call is safe
to repeat: no ledger is needed, and an answer lost to a timeout is simply asked again.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import requests

from adapters.base import AdapterServices
from adapters.hotline.client import Answer, KnowledgeBaseClient
from adapters.hotline.config import HotlineConfig
from schemas.delivery import Action, Delivered, DeliveryResult, DeliveryTask, Rejected, Retryable
from schemas.publication import Publication, Validity

log = logging.getLogger("govcast.adapters.hotline")

CHANNEL = "hotline"
NETWORK_RETRY_AFTER = 30.0
# Answers that mean "already as it should be": the knowledge base holds a newer version, or the entry was
# retracted (closed) before this task ran.
SETTLED = {"STALE_VERSION": "the knowledge base holds a newer version; kept it",
           "ENTRY_CLOSED": "the entry was retracted earlier; this version is not filed"}


def outcome(answer: Answer, doing: str) -> DeliveryResult:
    said = f"{doing}: HTTP {answer.status} {answer.code} {answer.message}".strip()
    if answer.status in (429, 503) or answer.status >= 500:
        return Retryable(reason=said, retry_after=answer.retry_after or 30.0)
    if answer.code == "TIMESTAMP_EXPIRED":  # our clock or a slow network: a fresh signature may pass
        return Retryable(reason=said + " (check this host's clock)", retry_after=60.0)
    if answer.status == 401:
        return Rejected(reason=f"configuration problem: {said}", code="configuration")
    return Rejected(reason=said, code=answer.code)


def lapse_reason(pub: Publication) -> str:
    """Why the entry comes down, as agents will read it: 废止/失效 and the later file, or the end of 有效期."""
    verb = "废止" if pub.validity is Validity.repealed else "失效"
    lapse = pub.lapsed_by
    if lapse is not None and lapse.by_title:
        return f"本政策已{verb}，见《{lapse.by_title}》{lapse.by_doc_no}"
    if pub.expiry_date is not None:
        return f"本政策已{verb}（有效期至{pub.expiry_date.isoformat()}）"
    return f"本政策已{verb}"


class HotlineAdapter:
    channel: ClassVar[str] = CHANNEL

    def __init__(self, config: HotlineConfig, services: AdapterServices | None = None, *,
                 client: KnowledgeBaseClient | None = None) -> None:
        self.config = config
        self.client = client or KnowledgeBaseClient(config)

    def __repr__(self) -> str:
        return f"HotlineAdapter({self.config!r})"

    def deliver(self, task: DeliveryTask) -> DeliveryResult:
        if task.channel != CHANNEL:
            return Rejected(reason=f"task for channel {task.channel!r} sent to the hotline", code="wrong_channel")
        pub = task.publication
        try:
            if task.action is Action.retract:
                return self._withdraw(pub, pub.retract_reason or "撤回", final=True)
            if not pub.validity.in_force:  # 已修改 stays in force: the entry is updated, not withdrawn
                return self._withdraw(pub, lapse_reason(pub), final=False)
            return self._put(task)
        except requests.RequestException as exc:
            reason = f"hotline knowledge base unreachable: {type(exc).__name__}: {exc}"
            log.warning("%s: %s", task.delivery_id, reason)
            return Retryable(reason=reason, retry_after=NETWORK_RETRY_AFTER)

    def close(self) -> None:
        self.client.close()

    def _put(self, task: DeliveryTask) -> DeliveryResult:
        pub, entry = task.publication, task.rendition
        if not entry:
            return Rejected(reason="no hotline rendition on the task", code="content")
        answer = self.client.call("PUT", f"/v1/entries/{pub.id}", {**entry, "version": pub.version})
        if answer.status in (200, 201):
            verb = "created" if answer.status == 201 else "updated"
            return Delivered(external_id=str(answer.body.get("entry_id") or ""),
                             detail=f"version {pub.version}: entry {verb} (revision {answer.body.get('revision')})")
        if answer.status == 409 and answer.code in SETTLED:
            return Delivered(detail=f"version {pub.version}: {SETTLED[answer.code]}")
        return outcome(answer, f"filing the entry of {pub.id}")

    def _withdraw(self, pub: Publication, reason: str, *, final: bool) -> DeliveryResult:
        answer = self.client.call("POST", f"/v1/entries/{pub.id}/withdraw",
                                  {"version": pub.version, "reason": reason[:200], "final": final})
        if answer.status == 200:
            return Delivered(external_id=str(answer.body.get("entry_id") or "") or None,
                             detail=f"entry {answer.body.get('status')}: {reason}")
        if answer.status == 404 and not final:
            return Delivered(detail="no entry was filed; nothing to withdraw")
        if answer.status == 409 and answer.code in SETTLED:
            return Delivered(detail=SETTLED[answer.code])
        return outcome(answer, f"withdrawing the entry of {pub.id}")
