"""What the subscription center does, independent of the pages: sign-up with double opt-in, takeover
protection, confirmations, manage links, changes (recorded), and deletion.

Rules:
- A new business exists in the push directory only after one of its addresses confirmed (email link or SMS
  code); each email/SMS address of a self-registered business carries pushes only once confirmed itself.
- A sign-up for a credit code that is already registered changes nothing: the requested record waits for a
  confirmation sent to the contacts on file (verified ones for a self-registered business; an operator's or
  an import's otherwise). The person who typed the form never learns those contacts beyond a mask.
- A changed email or mobile is unconfirmed until its own confirmation comes back.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from persistence.audit import Actor
from persistence.push_recipients import utcnow
from persistence.selfservice import Outcome, SelfService
from persistence.subscribers import SubscriberStore
from producers.subscribe.links import make_manage_token, mask_email, mask_mobile, read_manage_token
from producers.subscribe.notify import Notifier
from schemas.subscriber import SELF_VERIFIED, Subscriber, SubscriberIn

CHANNEL_NAMES = {"email": "邮件", "sms": "短信", "webhook": "Webhook", "wechat_template": "微信模板消息", "all": "全部推送"}
ADDRESS_FIELD = {"email": "email", "sms": "mobile"}


def address_of(sub: Subscriber | SubscriberIn, channel: str) -> str | None:
    value: str | None = getattr(sub, ADDRESS_FIELD[channel])
    return value


def mask(channel: str, address: str | None) -> str:
    return mask_email(address) if channel == "email" else mask_mobile(address)


def contacts_on_file(sub: Subscriber) -> list[tuple[str, str]]:
    """(channel, address) a confirmation may go to: verified ones, or what an operator or import gave."""
    found = []
    for channel in SELF_VERIFIED:
        address = address_of(sub, channel)
        if address and (sub.origin != "self" or channel in sub.verified):
            found.append((channel, address))
    return found


def business_actor(sub: Subscriber, ip: str) -> Actor:
    """The business as the audit trail names it (its manage link or confirmation proved it)."""
    return Actor(id=f"business:{sub.credit_code}", name=sub.name, kind="business", client=ip)


@dataclass(frozen=True)
class Sent:
    channel: str
    masked: str
    ref: str | None = None  # the confirmation (SMS: the code form's reference)
    ok: bool = True
    limited: bool = False


@dataclass(frozen=True)
class SignupResult:
    existing: bool  # the credit code was registered already: confirmations went to the contacts on file
    sent: list[Sent] = field(default_factory=list)


@dataclass(frozen=True)
class ConfirmResult:
    outcome: str  # an Outcome, or "taken" (registered by someone else meanwhile), "gone" (deleted meanwhile)
    purpose: str = ""
    channel: str = ""
    credit_code: str = ""
    manage_url: str = ""
    attempts_left: int = 0
    sent: list[Sent] = field(default_factory=list)


class Center:
    def __init__(self, directory: SubscriberStore, selfservice: SelfService, notifier: Notifier, base_url: str,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.directory, self.selfservice, self.notifier = directory, selfservice, notifier
        self.base_url, self.clock = base_url.rstrip("/"), clock
        self._manage_secret: str | None = None

    # -- manage links -------------------------------------------------------------------------
    @property
    def manage_secret(self) -> str:
        if self._manage_secret is None:
            self._manage_secret = self.directory.secret("manage")
        return self._manage_secret

    def manage_path(self, credit_code: str) -> str:
        return f"/subscribe/m/{make_manage_token(self.manage_secret, credit_code, self.clock())}"

    def manage_url(self, credit_code: str) -> str:
        return self.base_url + self.manage_path(credit_code)

    def read_manage(self, token: str) -> tuple[str, Subscriber | None] | None:
        """("ok", record) for a valid link, ("expired", None), or None for a forged one / a deleted business."""
        found = read_manage_token(self.manage_secret, token, self.clock())
        if found is None:
            return None
        if found.expired:
            return "expired", None
        sub = self.directory.get(found.credit_code)
        return ("ok", sub) if sub is not None else None

    # -- sending -----------------------------------------------------------------------------------
    def _send(self, credit_code: str, purpose: str, channel: str, address: str, doc: str | None, ip: str) -> Sent:
        masked = mask(channel, address)
        if not self.selfservice.allow_send(address, ip, self.clock()):
            return Sent(channel, masked, ok=False, limited=True)
        ref, secret = self.selfservice.begin(credit_code, purpose, channel, doc, self.clock())
        if channel == "sms":
            return Sent(channel, masked, ref, self.notifier.code(address, secret))
        url = f"{self.base_url}/subscribe/confirm/{ref}.{secret}"
        subject, action = {
            "signup": ("请确认订阅惠企政策推送", "确认订阅"),
            "change": ("请确认更改惠企政策推送的登记信息", "确认更改"),
            "verify": ("请确认接收惠企政策推送的邮箱", "确认邮箱"),
        }[purpose]
        lines = [f"有人以统一社会信用代码 {credit_code} 申请{subject.removeprefix('请确认')}。",
                 "请在24小时内点击下方链接确认。链接只能使用一次。"]
        return Sent(channel, masked, ref, self.notifier.email(address, subject, lines, url, action))

    def _verify_new(self, sub: Subscriber, ip: str) -> list[Sent]:
        """Confirmations for the email/mobile of `sub` not yet confirmed."""
        sent = []
        for channel in SELF_VERIFIED:
            address = address_of(sub, channel)
            if address and channel not in sub.verified:
                sent.append(self._send(sub.credit_code, "verify", channel, address, json.dumps({"address": address}), ip))
        return sent

    # -- sign-up -------------------------------------------------------------------------------------
    def signup(self, data: SubscriberIn, ip: str) -> SignupResult:
        requested = Subscriber.model_validate({**data.model_dump(), "origin": "self", "consent": True})
        doc = json.dumps(requested.stored(), ensure_ascii=False)
        existing = self.directory.get(data.credit_code)
        if existing is None:
            targets = [(c, a) for c in SELF_VERIFIED if (a := address_of(requested, c))]
            return SignupResult(False, [self._send(data.credit_code, "signup", c, a, doc, ip) for c, a in targets])
        return SignupResult(True, [self._send(data.credit_code, "change", c, a, doc, ip)
                                   for c, a in contacts_on_file(existing)])

    def request_manage(self, credit_code: str, channel: str, ip: str) -> Sent:
        """A manage link by email, or a code by SMS, to the contact on file. The answer looks the same whether
        or not the business is registered (no one learns which codes are)."""
        sub = self.directory.get(credit_code)
        address = dict(contacts_on_file(sub)).get(channel) if sub is not None else None
        if address is None:  # limited like a real send (rows cost space), then a code form that never succeeds
            if not self.selfservice.allow_send(f"{channel}:{credit_code}", ip, self.clock()):
                return Sent(channel, "", ok=False, limited=True)
            ref = self.selfservice.begin(credit_code, "manage", channel, None, self.clock())[0] if channel == "sms" else None
            return Sent(channel, "", ref)
        if channel == "sms":
            return self._send(credit_code, "manage", channel, address, None, ip)
        if not self.selfservice.allow_send(address, ip, self.clock()):
            return Sent(channel, mask(channel, address), ok=False, limited=True)
        ok = self.notifier.email(address, "惠企政策推送：管理您的订阅", [
            f"您（统一社会信用代码 {credit_code}）申请管理惠企政策推送订阅。", "链接24小时内有效，请勿转发。"],
            self.manage_url(credit_code), "管理订阅")
        return Sent(channel, mask(channel, address), ok=ok)

    # -- confirmations -----------------------------------------------------------------------------------
    def confirm(self, ref: str, secret: str, ip: str) -> ConfirmResult:
        r = self.selfservice.redeem(ref, secret, self.clock())
        if r.outcome is not Outcome.confirmed:
            return ConfirmResult(r.outcome.value, r.purpose, r.channel, r.credit_code, attempts_left=r.attempts_left)
        code, channel, existing = r.credit_code, r.channel, self.directory.get(r.credit_code)
        done = ConfirmResult("confirmed", r.purpose, channel, code, self.manage_url(code))
        if r.purpose == "manage":
            return done if existing is not None else ConfirmResult("gone", r.purpose, channel, code)
        payload: dict[str, Any] = json.loads(r.doc or "{}")
        if r.purpose == "verify":
            if existing is None or address_of(existing, channel) != payload.get("address"):
                return ConfirmResult("gone", r.purpose, channel, code)  # deleted, or the address changed again
            self._save(existing, {"verified": sorted({*existing.verified, channel})}, f"{CHANNEL_NAMES[channel]}地址已确认", ip,
                       "subscriber.verify")
            return done
        requested = Subscriber.model_validate(payload)
        if r.purpose == "signup":
            if existing is None:
                self._save(requested, {"verified": [channel], "consent_at": self.clock()},
                           f"自助订阅，经{CHANNEL_NAMES[channel]}确认", ip, "subscriber.signup")
                return done
            if existing.origin == "self" and address_of(existing, channel) == address_of(requested, channel):
                self._save(existing, {"verified": sorted({*existing.verified, channel})}, f"{CHANNEL_NAMES[channel]}地址已确认",
                           ip, "subscriber.verify")
                return done
            return ConfirmResult("taken", r.purpose, channel, code)
        if existing is None:  # purpose "change": the record was deleted meanwhile
            return ConfirmResult("gone", r.purpose, channel, code)
        kept = [c for c in SELF_VERIFIED if address_of(requested, c) and address_of(requested, c) == address_of(existing, c)
                and (c in existing.verified or existing.origin != "self")]
        sub = self._save(requested, {"verified": kept, "unsubscribed": [], "paused": False,
                                     "consent_at": existing.consent_at or self.clock()},
                         f"重新登记，经已登记的{CHANNEL_NAMES[channel]}确认", ip, "subscriber.change")
        return ConfirmResult("confirmed", r.purpose, channel, code, self.manage_url(code), sent=self._verify_new(sub, ip))

    # -- changes from the manage page ---------------------------------------------------------------------
    def _save(self, base: Subscriber, changes: dict[str, Any], what: str, ip: str, action: str = "subscriber.self") -> Subscriber:
        """Store the business's change: on the audit trail (the business as actor) and in its own history."""
        sub = Subscriber.model_validate({**base.stored(), **changes, "origin": "self"})
        self.directory.put(sub, (business_actor(sub, ip), action))
        self.selfservice.record(sub.credit_code, what, "business", self.clock())
        return sub

    def change(self, sub: Subscriber, changes: dict[str, Any], what: str, ip: str) -> tuple[Subscriber, list[Sent]]:
        """Apply one form's changes (validated as a whole record); new addresses wait for their confirmation."""
        merged = {**sub.stored(), **changes}
        verified = [c for c in sub.verified if merged.get(ADDRESS_FIELD[c]) == address_of(sub, c)]
        if sub.origin != "self":  # the business takes over its record: what the operator gave counts as confirmed
            verified = [c for c in SELF_VERIFIED if merged.get(ADDRESS_FIELD[c]) and merged.get(ADDRESS_FIELD[c]) == address_of(sub, c)]
        saved = self._save(sub, {**changes, "verified": verified}, what, ip)
        return saved, self._verify_new(saved, ip)

    def erase(self, sub: Subscriber, ip: str) -> bool:
        return self.selfservice.erase(sub.credit_code, business_actor(sub, ip))
