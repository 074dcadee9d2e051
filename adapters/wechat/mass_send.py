"""Mass send (群发, GOVCAST_WECHAT_MASS_SEND=true): the day's due copies go to every follower as one message.

A subscription account may mass-send once a day, and freepublish does not reach followers. So instead of one
freepublish per copy, each copy is *gathered*: its article is prepared (thumb and body images uploaded) and kept
in its ledger row, tagged with the batch of the next send time (GOVCAST_WECHAT_MASS_SEND_TIME, Beijing time by the
pipeline clock), and the host checks back then (an ordinary Pending result, so both hosts wait the same way). The
first copy checked at or after the send time builds the batch for all: the day's copies in the order they were
gathered, at most 8 (one multi-article message), one `draft/add` and one `message/mass/sendall` to all followers.
Each copy then gets its own result: delivered with its article's URL and index, or -- beyond the 8, or refused
because the day's mass send was used elsewhere (45028) -- gathered again for the next day.

Ledger rows (channel "wechat"):
    <delivery id>       state gathered → published; article, batch (`mass:<day>`, also the row's reference)
    mass:<day>          members, draft_media_id, state drafted → sending → sent | no_quota, msg_id
    massmsg:<msg_id>    the MASSSENDJOBFINISH callback (status, article URLs), adapters.wechat.callbacks
"sending" is written before sendall, whose `clientmsgid` is the batch's own: a worker that died after sending (or a
lost answer) sends again with the same clientmsgid and WeChat answers 45065 with the msg_id it already sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from adapters.transport import MaybeSent, NotSent
from adapters.wechat.api import CHANNEL, CST, WechatApi, WechatError
from adapters.wechat.config import WechatConfig
from persistence.ledger import Ledger
from persistence.mass_send import claim_batch, gathered
from schemas.delivery import Delivered, DeliveryResult, DeliveryTask, Pending, Rejected, Retryable


class WechatAdapter(Protocol):
    """What of the WeChat adapter (adapter.py) its mass send uses: a Protocol, so the two modules import one way only."""

    config: WechatConfig
    api: WechatApi
    ledger: Ledger
    clock: Callable[[], dt.datetime]

    def article(self, task: DeliveryTask, facts: dict[str, Any]) -> dict[str, Any]: ...

log = logging.getLogger("govcast.adapters.wechat")

MAX_ARTICLES = 8
STALE_CLAIM = 120.0  # seconds after which a worker's unfinished batch may be taken over
NO_QUOTA = 45028
SENT_BEFORE = 45065


def send_time(day: dt.date, at: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(int(at[:2]), int(at[3:])), CST)


def batch_day(now: dt.datetime, at: str) -> dt.date:
    """The day of the next mass send: today's until its send time, else tomorrow's."""
    local = now.astimezone(CST)
    return local.date() if local < send_time(local.date(), at) else local.date() + dt.timedelta(days=1)


class MassSender:
    def __init__(self, adapter: WechatAdapter) -> None:
        self.adapter, self.api, self.ledger, self.clock = adapter, adapter.api, adapter.ledger, adapter.clock
        self.at = adapter.config.mass_send_time

    def deliver(self, task: DeliveryTask) -> DeliveryResult:
        facts = self.ledger.get(CHANNEL, task.delivery_id)
        if facts.get("state") == "published":
            return _delivered(facts)
        if facts.get("state") != "gathered":
            facts = self._gather(task, facts, batch_day(self.clock(), self.at))
        day = dt.date.fromisoformat(str(facts["mass_day"]))
        due = send_time(day, self.at)
        if self.clock() < due:
            return self._waiting(day, f"gathered for the mass send of {due:%Y-%m-%d %H:%M} (Beijing time), "
                                      "one multi-article message to all followers")
        batch = self.ledger.get(CHANNEL, _key(day))
        if batch.get("state") not in ("sent", "no_quota"):
            if not claim_batch(self.ledger.engine, CHANNEL, _key(day), task.delivery_id, self.clock().timestamp(),
                               STALE_CLAIM):
                return Pending(reason=f"another worker is sending the mass message of {day}", check_after=5.0)
            sent = self._send(day, batch)
            if isinstance(sent, Retryable):
                return sent
            batch = sent
        members = list(batch.get("members") or [])
        if task.delivery_id in (dropped := batch.get("dropped") or {}):
            return Delivered(detail=dropped[task.delivery_id])
        if batch.get("state") == "no_quota" or task.delivery_id not in members:
            why = ("the account's mass send of the day was already used (45028)" if batch.get("state") == "no_quota"
                   else f"the message of {day} was full ({MAX_ARTICLES} articles)")
            nxt = day + dt.timedelta(days=1)
            self._regather(task.delivery_id, nxt)
            return self._waiting(nxt, f"{why}: goes out with the mass send of {send_time(nxt, self.at):%Y-%m-%d %H:%M}")
        return self._result(task, batch, day, members.index(task.delivery_id) + 1)

    # -- steps -------------------------------------------------------------------------------

    def _gather(self, task: DeliveryTask, facts: dict[str, Any], day: dt.date) -> dict[str, Any]:
        article = self.adapter.article(task, facts)  # cover and body images uploaded now, once
        return self.ledger.put(CHANNEL, task.delivery_id, external_ref=_key(day), state="gathered", article=article,
                               mass_day=day.isoformat(), gathered_at=self.clock().timestamp(),
                               gathered_ns=time.time_ns(),  # orders copies gathered at one pipeline-clock instant
                               publication_id=task.publication.id, version=task.publication.version)

    def _regather(self, delivery_id: str, day: dt.date) -> None:
        self.ledger.put(CHANNEL, delivery_id, external_ref=_key(day), mass_day=day.isoformat())

    def _waiting(self, day: dt.date, reason: str) -> Pending:
        wait = (send_time(day, self.at) - self.clock()).total_seconds()
        return Pending(reason=reason, check_after=max(wait, 0.0) + 1.0, scheduled=True)

    def _members(self, copies: list[tuple[str, dict[str, Any]]]) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, str]]:
        """The copies the message carries (≤ 8), and why the others it leaves out are done: a publication retracted
        meanwhile sends nothing, and of a publication revised meanwhile only its newest version goes."""
        newest: dict[str, int] = {}
        for _, facts in copies:
            newest[facts["publication_id"]] = max(newest.get(facts["publication_id"], 0), int(facts["version"]))
        records = self.ledger.get_many(CHANNEL, [_pub_key(p) for p in newest])
        kept, dropped = [], {}
        for delivery_id, facts in copies:
            if (records.get(_pub_key(facts["publication_id"])) or {}).get("deleted"):
                dropped[delivery_id] = "retracted meanwhile: nothing sent to followers"
            elif int(facts["version"]) < newest[facts["publication_id"]]:
                dropped[delivery_id] = (f"revised meanwhile: version {newest[facts['publication_id']]} goes in the "
                                        "mass send instead")
            else:
                kept.append((delivery_id, facts))
        return kept[:MAX_ARTICLES], dropped

    def _send(self, day: dt.date, batch: dict[str, Any]) -> dict[str, Any] | Retryable:
        """Build and send the day's message (the caller holds the claim); the batch record after it."""
        key = _key(day)
        if not batch.get("members"):  # fixed once written: a taken-over batch sends the same articles
            copies, dropped = self._members(gathered(self.ledger.engine, CHANNEL, key))
            batch = self.ledger.put(CHANNEL, key, members=[d for d, _ in copies], dropped=dropped,
                                    articles=[f["article"] for _, f in copies], state="gathered")
            if not copies:
                return self.ledger.put(CHANNEL, key, state="sent", msg_id=None)
        if not batch.get("draft_media_id"):
            answer = self.api.call("/cgi-bin/draft/add", {"articles": batch["articles"]})
            batch = self.ledger.put(CHANNEL, key, draft_media_id=answer["media_id"], state="drafted")
        batch = self.ledger.put(CHANNEL, key, state="sending")
        body = {"filter": {"is_to_all": True}, "mpnews": {"media_id": batch["draft_media_id"]}, "msgtype": "mpnews",
                "send_ignore_reprint": 0, "clientmsgid": f"govcast-{key}"}
        try:
            answer = self.api.call("/cgi-bin/message/mass/sendall", body, idempotent=False)
        except NotSent as exc:
            return Retryable(reason=f"WeChat unreachable: {exc.reason}", retry_after=30.0)
        except MaybeSent as exc:  # sent again with the same clientmsgid, WeChat answers 45065 with the first msg_id
            return Retryable(reason=f"mass/sendall: {exc.reason}", retry_after=60.0)
        except WechatError as err:
            if err.errcode == SENT_BEFORE and err.answer.get("msg_id"):
                answer = err.answer
            elif err.errcode == NO_QUOTA:
                log.warning("mass send of %s refused: the day's quota is used; its copies wait a day", day)
                return self.ledger.put(CHANNEL, key, state="no_quota", refused=err.errmsg)
            else:
                raise
        log.info("mass send of %s: msg_id %s, %d articles", day, answer.get("msg_id"), len(batch["members"]))
        return self.ledger.put(CHANNEL, key, state="sent", msg_id=str(answer["msg_id"]),
                               msg_data_id=answer.get("msg_data_id"))

    def _result(self, task: DeliveryTask, batch: dict[str, Any], day: dt.date, idx: int) -> DeliveryResult:
        msg_id = str(batch["msg_id"])
        event = self.ledger.get(CHANNEL, f"massmsg:{msg_id}").get("callback") or {}
        status = str(event.get("status") or "")
        if not status:
            answer = self.api.call("/cgi-bin/message/mass/get", {"msg_id": int(msg_id)})
            status = {"SEND_SUCCESS": "send success", "SENDING": "", "SEND_FAIL": "send fail"}.get(
                str(answer.get("msg_status")), str(answer.get("msg_status")).lower())
        if not status:
            return Pending(reason=f"mass send {msg_id} still sending", check_after=self.adapter.config.poll_seconds)
        if status != "send success":
            return Rejected(reason=f"WeChat mass send {msg_id}: {status}", code="mass_send_failed")
        url = (event.get("urls") or {}).get(str(idx))  # only MASSSENDJOBFINISH names the articles' URLs
        facts = self.ledger.put(CHANNEL, task.delivery_id, state="published", url=url, msg_id=msg_id, idx=idx,
                                count=len(batch["members"]), mass_day=day.isoformat())
        self.ledger.put(CHANNEL, _pub_key(task.publication.id), mass_msg_id=msg_id, idx=idx, url=url,
                        delivery=task.delivery_id, version=task.publication.version)
        return _delivered(facts)


def _pub_key(publication_id: str) -> str:
    return f"pub:{publication_id}"[:64]  # what the publication has on WeChat (adapters.wechat.adapter)


def _key(day: dt.date) -> str:
    return f"mass:{day.isoformat()}"


def _delivered(facts: dict[str, Any]) -> Delivered:
    return Delivered(url=facts.get("url"), external_id=f"{facts['msg_id']}#{facts['idx']}",
                     detail=f"sent to all followers: article {facts['idx']} of {facts['count']} in the mass send "
                            f"{facts['msg_id']} of {facts['mass_day']}")
