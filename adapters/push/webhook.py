"""Webhooks to business systems, signed per Standard Webhooks 1.0 (shared/channels.md)."""

from __future__ import annotations

import asyncio
import base64
import functools
import hmac
import json
import operator
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

from adapters.egress import ForbiddenAddress, networks, url_problem
from adapters.push.message import REVISED_EVENT, PushMessage
from adapters.push.webhook_client import WebhookClient
from schemas.delivery import Delivered, DeliveryResult, Rejected, Retryable
from schemas.subscriber import PushChannel, Subscriber

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@functools.lru_cache(maxsize=1024)  # secrets repeat (one per business, often one per installation)
def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`; the key is the Base64 part of `whsec_…`."""
    mac = hmac.digest(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, "sha256")
    return "v1," + base64.b64encode(mac).decode()


def retry_after(header: str | None, default: float = 30.0) -> float:
    try:
        return max(0.0, float(header)) if header else default
    except ValueError:
        return default


def signed(secret: str, msg_id: str, timestamp: int, payload: dict[str, Any] | bytes) -> tuple[bytes, dict[str, str]]:
    data = payload if isinstance(payload, bytes) else _dumps(payload).encode()
    return data, {"content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp),
                  "webhook-signature": sign(secret, msg_id, timestamp, data)}


def classify(status: int, retry_after_header: str | None, msg_id: str) -> DeliveryResult:
    """2xx delivered; 410 disables the endpoint; 408/425/429/5xx retry (honouring Retry-After); else rejected."""
    if 200 <= status < 300:
        return Delivered(detail=f"webhook {status}", external_id=msg_id)
    if status == 410:
        return Rejected(reason="the endpoint answered 410 Gone: disabled", code="gone")
    if status in RETRY_STATUSES:
        return Retryable(reason=f"webhook answered {status}", retry_after=retry_after(retry_after_header))
    return Rejected(reason=f"webhook answered {status}", code=f"http_{status}")


def shared_payload(msg: PushMessage) -> dict[str, Any]:
    """The payload without the recipient's own fields: the same for every business a message goes to."""
    data: dict[str, Any] = {
        "publication_id": msg.publication_id, "version": msg.version, "kind": msg.kind, "kind_label": msg.label,
        "title": msg.title, "publisher": msg.publisher, "index_no": msg.index_no, "doc_no": msg.doc_no,
        "publish_date": msg.publish_date, "validity": msg.validity, "summary": msg.summary, "url": msg.url}
    if msg.event == REVISED_EVENT:  # what this version changed, in the department's words (may be empty)
        data["change_note"] = msg.change_note
    if msg.is_lapse:  # policy.validity_changed: no longer in force; replacement null when it expired
        data["replacement"] = {"title": msg.replacement_title, "url": msg.replacement_url} if msg.replacement_url else None
    return {"type": msg.event, "timestamp": int(msg.sent_at), "data": data}


def own_fields(sub: Subscriber, msg: PushMessage) -> dict[str, Any]:
    return {"reason": msg.reason, "credit_code": sub.credit_code}


def payload(sub: Subscriber, msg: PushMessage) -> dict[str, Any]:
    """The webhook's JSON payload (`body` is its serialized form)."""
    shared = shared_payload(msg)
    return {**shared, "data": {**shared["data"], **own_fields(sub, msg)}}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_shared_fields = operator.attrgetter("publication_id", "version", "kind", "label", "title", "publisher", "index_no",
                                     "doc_no", "publish_date", "validity", "summary", "url", "event", "change_note",
                                     "replacement_title", "replacement_url")
_shared_json: dict[tuple[Any, ...], bytes] = {}


def body(sub: Subscriber, msg: PushMessage) -> bytes:
    """`payload` as JSON bytes. The part every recipient shares is serialized once per message and second (the
    timestamp is in it), then the recipient's own fields are appended: rendered once per policy, not per business."""
    key = (int(msg.sent_at), _shared_fields(msg))
    shared = _shared_json.get(key)
    if shared is None:
        if len(_shared_json) >= 64:
            _shared_json.clear()
        shared = _shared_json[key] = _dumps(shared_payload(msg)).removesuffix("}}").encode()
    return shared + b"," + _dumps(own_fields(sub, msg))[1:].encode() + b"}"


class WebhookSender:
    """Sent on the dispatcher's event loop (adapters/push/webhook_client.py): the high-volume push path."""

    channel: ClassVar[PushChannel] = PushChannel.webhook

    def __init__(self, timeout: float, allowed_networks: Sequence[str] = ()) -> None:
        self.timeout = timeout
        self.allowed_networks = tuple(allowed_networks)
        self.allowed = networks(allowed_networks)

    def client(self) -> WebhookClient:
        """A client for one event loop (the dispatcher keeps one per loop and closes it)."""
        return WebhookClient(self.allowed_networks)

    def send(self, sub: Subscriber, msg: PushMessage, facts: dict[str, Any]) -> DeliveryResult:
        """The PushSender protocol's blocking form (the dispatcher uses `send_async`)."""
        async def once() -> DeliveryResult:
            http = self.client()
            try:
                return await self.send_async(sub, msg, facts, http)
            finally:
                await http.close()

        return asyncio.run(once())

    @functools.lru_cache(maxsize=4096)  # noqa: B019 -- one sender per adapter, and the URLs are few per origin
    def _origin_problem(self, scheme: str, netloc: str) -> str | None:
        return url_problem(f"{scheme}://{netloc}/", self.allowed, resolve=False)

    async def send_async(self, sub: Subscriber, msg: PushMessage, facts: dict[str, Any],
                         http: WebhookClient) -> DeliveryResult:
        if not (sub.webhook_url and sub.webhook_secret):
            return Rejected(reason="no webhook endpoint", code="no_contact")
        # Checked again at send time (records saved before the guard, changed settings): scheme, credentials
        # and literal addresses here (they depend on the origin only), names by the client's GuardedResolver
        # on the addresses its connection will use.
        scheme, netloc, *_ = urlsplit(sub.webhook_url)
        if why := self._origin_problem(scheme, netloc):
            return Rejected(reason=f"webhook URL refused: it {why}", code="forbidden_target")
        data, headers = signed(sub.webhook_secret.get_secret_value(), msg.delivery_id, int(msg.sent_at), body(sub, msg))
        try:
            answer = await http.post(sub.webhook_url, list(headers.items()), data, self.timeout)
        except ForbiddenAddress as exc:
            return Rejected(reason=f"webhook URL refused: {exc}", code="forbidden_target")
        except (OSError, TimeoutError) as exc:  # the receiver dedupes by webhook-id: sending again is safe
            return Retryable(reason=f"webhook {type(exc).__name__}", retry_after=30.0)
        return classify(answer.status, answer.retry_after, msg.delivery_id)

    def close(self) -> None:
        pass
