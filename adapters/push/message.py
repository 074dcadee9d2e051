"""What every push sub-channel (webhook, email, SMS, WeChat template message) gets, and the protocol it implements.

The push adapter picks a business's channel; a `PushSender` carries one `PushMessage` on it.
Channels with delivery receipts (SMS, WeChat template) answer `send` with `Pending` once the
platform accepted the message ("sent"); the adapter then calls `check` on each later visit,
which reads the receipt the callback stored in the ledger facts or polls the platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from schemas.delivery import DeliveryResult
from schemas.subscriber import PushChannel, Subscriber

if TYPE_CHECKING:
    from adapters.push.webhook_client import WebhookClient


LAPSE_EVENT = "policy.validity_changed"
# To the webhooks of businesses that received an earlier version, when a revision is published (once per
# business and revision; processors/target.py picks them, the adapter sends it by webhook only).
REVISED_EVENT = "publication.revised"


@dataclass(frozen=True)
class PushMessage:
    delivery_id: str  # stable per (publication version, business): OutId, client_msg_id, webhook-id
    publication_id: str
    version: int
    title: str
    publisher: str
    doc_no: str
    summary: str
    reason: str  # one line on why the policy concerns this business
    url: str  # the portal page
    link: str  # the portal page through the click-counting redirect (for people: SMS, email, WeChat)
    unsubscribe_url: str  # this channel only
    unsubscribe_all_url: str
    sent_at: float  # Unix seconds, real time (webhook-timestamp is checked against the receiver's clock)
    # A lapse notice (policy.validity_changed): the policy the business received was repealed, replaced or amended.
    event: str = "policy.published"
    index_no: str = ""
    publish_date: str = ""  # 发布日期, ISO
    validity: str = "有效"
    replacement_title: str = ""
    replacement_url: str = ""
    label: str = "政策文件"  # what the item is, in words (adapters/common/wording.py)
    subject: str = ""  # the document's short name, for channels without room for the title
    kind: str = "policy"
    consult_phone: str = ""  # 咨询电话 (GOVCAST_PUSH_CONSULT_PHONE)
    change_note: str = ""  # what this version changed (publication.revised)

    @property
    def is_lapse(self) -> bool:
        return self.event == LAPSE_EVENT

    @property
    def validity_phrase(self) -> str:
        """已废止, 已失效, 已修改: what happened to the policy, as a sentence says it."""
        return self.validity if self.validity.startswith("已") else f"已{self.validity}"

    @property
    def subject_line(self) -> str:
        """An email's subject: what the item is, then its title."""
        return f"【政策变更】《{self.title}》{self.validity_phrase}" if self.is_lapse else f"【{self.label}】{self.title}"

    def lines(self, name: str) -> list[str]:
        """The paragraphs of a message with room for them (email): the item with its 发文字号, the summary, why it
        concerns this business, whom to call."""
        phone = f"咨询电话：{self.consult_phone}" if self.consult_phone else ""
        numbered = f"《{self.title}》" + (f"（{self.doc_no}）" if self.doc_no else "")
        if self.is_lapse:
            replacement = f"新文件：《{self.replacement_title}》 {self.replacement_url}" if self.replacement_title else ""
            return [line for line in (f"{name}：", f"您此前收到的{numbered}{self.validity_phrase}。", self.summary,
                                      replacement, phone) if line]
        return [line for line in (f"{name}：", f"{self.publisher}发布{self.label}{numbered}。", self.summary, self.reason,
                                  phone) if line]


@runtime_checkable
class PushSender(Protocol):
    channel: ClassVar[PushChannel]

    def send(self, sub: Subscriber, msg: PushMessage, facts: dict[str, Any]) -> DeliveryResult:
        """Carry `msg` to `sub` once; `facts` are the ledger facts of this delivery (earlier attempts)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ReceiptSender(PushSender, Protocol):
    """A channel whose platform confirms delivery later (receipt callback, or polling as fallback)."""

    def check(self, sub: Subscriber, msg: PushMessage, facts: dict[str, Any]) -> DeliveryResult:
        """After `send` answered Pending: Delivered / Rejected (fall back) / Pending (ask again later)."""
        ...


@runtime_checkable
class AsyncSender(PushSender, Protocol):
    """A high-volume channel (webhooks) sent on the dispatcher's event loop with a shared pipelining client."""

    async def send_async(self, sub: Subscriber, msg: PushMessage, facts: dict[str, Any],
                         http: WebhookClient) -> DeliveryResult: ...
