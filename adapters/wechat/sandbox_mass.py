"""Mass send (群发) in the WeChat sandbox: /cgi-bin/message/mass/{sendall,get,delete}.

Contract (shared/channels.md): `sendall {filter: {is_to_all: true}, mpnews: {media_id}, msgtype: "mpnews",
send_ignore_reprint, clientmsgid}` → `{errcode: 0, msg_id, msg_data_id}`; the draft it names is one message of up to
8 articles (draft/add refuses more with 45008). A subscription account mass-sends once a day: a second sendall in
the same quota day (00:00 Beijing time, sandbox clock) answers 45028 "has no masssend quota". A `clientmsgid` seen
before answers 45065 with the msg_id of the send it already made (WeChat's dedup of a retried request).
The job finishes after `publish_delay` seconds and POSTs a signed MASSSENDJOBFINISH event (Status, counts and
ArticleUrlResult with each article's ArticleIdx and ArticleUrl); `mass/get {msg_id}` answers its msg_status;
`mass/delete {msg_id, article_idx}` deletes an article's page (0: all of them).
The sandbox has `followers` followers (a value of /_faults), all reached by is_to_all.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any, Protocol

from fastapi.responses import JSONResponse

from adapters.common.sandbox_kit import Faults, SandboxClock, answer, later


class WechatSandbox(Protocol):
    """What of the WeChat sandbox (sandbox.py) its mass send uses: a Protocol, so the two modules import one way only."""

    lock: threading.RLock
    clock: SandboxClock
    faults: Faults
    public_base: str
    callback_url: str
    materials: dict[str, dict[str, Any]]
    drafts: dict[str, dict[str, Any]]
    articles: dict[str, dict[str, Any]]
    deletions: list[dict[str, Any]]
    callbacks: list[dict[str, Any]]
    mass: dict[str, dict[str, Any]]

    def _id(self) -> int: ...

    def save(self) -> None: ...

    def post_event(self, xml: bytes) -> dict[str, Any]: ...

MAX_ARTICLES = 8  # articles in one multi-article message (draft/add)
FOLLOWERS = 1200


def _err(code: int, msg: str) -> JSONResponse:
    return answer({"errcode": code, "errmsg": f"{msg} rid: sandbox-{secrets.token_hex(4)}"})


def sendall(sandbox: WechatSandbox, body: dict[str, Any]) -> JSONResponse:
    if sandbox.faults.on("unverified"):
        return _err(48001, "api unauthorized")
    filt = body.get("filter")
    if not isinstance(filt, dict) or (filt.get("is_to_all") is not True and not filt.get("tag_id")):
        return _err(40130, "invalid openid list size, at least two openid")  # neither everyone nor a tag
    if body.get("msgtype") != "mpnews" or not isinstance(body.get("mpnews"), dict):
        return _err(47001, "data format error")
    media_id = str(body["mpnews"].get("media_id"))
    if media_id not in sandbox.drafts:
        return _err(40007, "invalid media_id")
    client_id = str(body.get("clientmsgid") or "")
    if len(client_id) > 64:
        return _err(45067, "clientmsgid size out of limit")
    with sandbox.lock:
        day = sandbox.clock.day()
        earlier = next((m for m in sandbox.mass.values() if client_id and m["clientmsgid"] == client_id), None)
        if earlier is not None:  # the same request again (a retry after a lost answer): nothing is sent twice
            return answer({"errcode": 45065, "errmsg": "clientmsgid exist", "msg_id": earlier["msg_id"]})
        if any(m["day"] == day for m in sandbox.mass.values()):
            return _err(45028, "has no masssend quota")
        msg_id, msg_data_id = sandbox._id(), sandbox._id()
        article_id = "sbx_mass_" + secrets.token_hex(12)
        news = [{**a, "url": f"{sandbox.public_base}/s/{article_id}?idx={i}", "is_deleted": False,
                 "thumb_url": sandbox.materials.get(a.get("thumb_media_id"), {}).get("url")}
                for i, a in enumerate(sandbox.drafts[media_id]["articles"], start=1)]
        sandbox.articles[article_id] = {"article_id": article_id, "publish_id": None, "mass_msg_id": msg_id,
                                        "news_item": news, "url": f"{sandbox.public_base}/s/{article_id}",
                                        "update_time": int(sandbox.clock.now())}
        sandbox.mass[str(msg_id)] = {"msg_id": msg_id, "msg_data_id": msg_data_id, "media_id": media_id,
                                     "clientmsgid": client_id, "day": day, "is_to_all": filt.get("is_to_all") is True,
                                     "article_id": article_id, "articles": len(news), "msg_status": "SENDING",
                                     "sent_at": sandbox.clock.now()}
        delay = sandbox.faults.values["publish_delay"]
        sandbox.save()
    later(delay, _finish, sandbox, str(msg_id))
    return answer({"errcode": 0, "errmsg": "send job submission success", "msg_id": msg_id, "msg_data_id": msg_data_id})


def _finish(sandbox: WechatSandbox, msg_id: str) -> None:
    with sandbox.lock:
        job = sandbox.mass[msg_id]
        followers = int(sandbox.faults.values.get("followers", FOLLOWERS))
        news = sandbox.articles[job["article_id"]]["news_item"]
    items = "".join(f"<item><ArticleIdx>{i}</ArticleIdx><ArticleUrl><![CDATA[{n['url']}]]></ArticleUrl></item>"
                    for i, n in enumerate(news, start=1))
    xml = (f"<xml><ToUserName><![CDATA[gh_sandbox000001]]></ToUserName><FromUserName><![CDATA[sandbox]]></FromUserName>"
           f"<CreateTime>{int(sandbox.clock.now())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
           f"<Event><![CDATA[MASSSENDJOBFINISH]]></Event><MsgID>{msg_id}</MsgID><Status><![CDATA[send success]]></Status>"
           f"<TotalCount>{followers}</TotalCount><FilterCount>{followers}</FilterCount><SentCount>{followers}</SentCount>"
           f"<ErrorCount>0</ErrorCount><ArticleUrlResult><Count>{len(news)}</Count><ResultList>{items}</ResultList>"
           f"</ArticleUrlResult></xml>").encode()
    entry: dict[str, Any] = {"msg_id": msg_id, "event": "MASSSENDJOBFINISH", "url": sandbox.callback_url,
                             "at": sandbox.clock.now()}
    if sandbox.faults.on("drop_callbacks"):
        entry["dropped"] = True
    else:
        entry.update(sandbox.post_event(xml))
    with sandbox.lock:  # the job shows finished once its event went out (mass/get never runs ahead of the event)
        job.update(msg_status="SEND_SUCCESS", total=followers, sent=followers)
        sandbox.callbacks.append(entry)
        sandbox.save()


def resume(sandbox: WechatSandbox) -> None:
    """After a restart: mass sends still sending finish, as they would have on the platform."""
    for job in sandbox.mass.values():
        if job["msg_status"] == "SENDING":
            later(sandbox.faults.values["publish_delay"], _finish, sandbox, str(job["msg_id"]))


def get(sandbox: WechatSandbox, body: dict[str, Any]) -> JSONResponse:
    job = sandbox.mass.get(str(body.get("msg_id")))
    if job is None:
        return _err(40008, "invalid message type")
    return answer({"msg_id": job["msg_id"], "msg_status": job["msg_status"]})


def delete(sandbox: WechatSandbox, body: dict[str, Any]) -> JSONResponse:
    """`mass/delete {msg_id, article_idx}`: the article's page goes (0 or absent: all of them)."""
    job = sandbox.mass.get(str(body.get("msg_id")))
    if job is None:
        return _err(40008, "invalid message type")
    index = int(body.get("article_idx") or 0)
    with sandbox.lock:
        for i, news in enumerate(sandbox.articles[job["article_id"]]["news_item"], start=1):
            if index in (0, i):
                news["is_deleted"] = True
        sandbox.deletions.append({"msg_id": job["msg_id"], "article_idx": index, "at": sandbox.clock.now()})
        sandbox.save()
    return answer({"errcode": 0, "errmsg": "ok"})


def describe(sandbox: WechatSandbox) -> dict[str, Any]:
    """For /_inspect: every mass send, with its articles' titles and URLs."""
    sends = []
    for job in sandbox.mass.values():
        news = sandbox.articles.get(job["article_id"], {}).get("news_item", [])
        sends.append({**job, "titles": [n.get("title") for n in news], "urls": [n["url"] for n in news]})
    return {"mass_sends": sends}
