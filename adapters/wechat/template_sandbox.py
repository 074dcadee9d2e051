"""Template messages (模板消息) of the WeChat sandbox: `POST /cgi-bin/message/template/send` and its receipts.

Part of the WeChat sandbox (adapters/wechat/sandbox.py includes it: same app, access tokens, clock,
faults and state file), so it answers at /sandbox/wechat/cgi-bin/message/template/send.

Contract (shared/channels.md, "Template message"), checked in this order after the access token:
- touser must look like a WeChat openid (28 characters: "o", then letters, digits, "-" or "_"), else
  40003 invalid openid. Every such openid counts as a follower, except those listed with
  POST /_followers: "unfollowed" (43004 require subscribe) and "refused" (43101); "blocked" ones are
  accepted, and their receipt says "failed:user block" (the user blocked the account's messages);
- template_id must be one of the account's templates (the demo template, SANDBOX_TEMPLATE_ID; listed by
  GET /cgi-bin/template/get_all_private_template and _inspect), else 40037 invalid template_id;
- each key of the template needs a non-empty one-line value within its type's limit (thing ≤ 20
  characters, character_string ≤ 32, phrase ≤ 5 …), else 47003 argument invalid; extra keys are ignored;
- client_msg_id: one message per (touser, client_msg_id) within 10 minutes (sandbox time): a repeat
  answers the first msgid and sends nothing (no second message, no second receipt);
- 100,000 sends per quota day (00:00 Beijing time of the sandbox clock), then 45009;
- once accepted, a TEMPLATESENDJOBFINISH event (MsgID, Status) goes to govcast's /callbacks/wechat,
  signed like the PUBLISHJOBFINISH callbacks (WechatSandbox.post_event).

Faults (POST /_faults), besides the shared busy (-1), minute_quota (45011) and expire_token:
template_quota (45009 for the rest of the quota day), block_user N / system_failed N (the next N accepted
messages get the receipt "failed:user block" / "failed: system failed"), drop_receipts (no receipt is
sent), timeout_template N (accepted, but answered only after delay_seconds), receipt_delay (seconds
before a receipt), template_daily_limit (sends per quota day).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
from typing import Any, ClassVar, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from adapters.common.sandbox_kit import Faults, SandboxClock, answer
from adapters.wechat.config import SANDBOX_TEMPLATE_ID


class WechatSandbox(Protocol):
    """What template messages use of the official account's sandbox (adapters/wechat/sandbox.py's WechatSandbox)."""

    faults: Faults
    clock: SandboxClock
    lock: threading.RLock
    callback_url: str
    template: TemplateMessages

    def save(self) -> None: ...

    def _id(self) -> int: ...

    def post_event(self, xml: bytes) -> dict[str, Any]: ...

    def check_token(self, request: Request) -> JSONResponse | None: ...

OPENID_RE = re.compile(r"^o[0-9A-Za-z_-]{27}$")
KEY_RE = re.compile(r"\{\{(\w+)\.DATA\}\}")
DAILY_LIMIT = 100_000
DEDUPE_SECONDS = 600.0
LIMITS = {"thing": 20, "keyword": 20, "character_string": 32, "number": 32, "letter": 32, "phrase": 5, "name": 10,
          "phone_number": 17, "car_number": 8, "symbol": 5}
DEMO_TEMPLATE = {
    "template_id": SANDBOX_TEMPLATE_ID, "title": "政策推送提醒", "primary_industry": "政府与公共事业",
    "deputy_industry": "政府机关",
    "content": "政策名称：{{thing1.DATA}}\n发布单位：{{thing2.DATA}}\n推送原因：{{thing3.DATA}}\n"
               "信息类别：{{phrase4.DATA}}\n咨询电话：{{phone_number5.DATA}}",
    "example": "政策名称：支持中小企业发展的若干措施\n发布单位：济南市工业和信息化局\n推送原因：注册地在历下区\n"
               "信息类别：惠企政策\n咨询电话：12345",
}
FOLLOWER_LISTS = ("unfollowed", "refused", "blocked")


def err(code: int, msg: str) -> JSONResponse:
    return answer({"errcode": code, "errmsg": f"{msg} rid: sandbox-{secrets.token_hex(4)}"})


def bad_value(key: str, value: Any) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("value"), str):
        return True
    text = value["value"]
    return not text.strip() or any(ord(c) < 32 for c in text) or len(text) > LIMITS.get(key.rstrip("0123456789"), 20)


class TemplateMessages:
    """The account's templates, the messages sent with them, the follower exceptions and the daily count."""

    COUNTERS = frozenset({"block_user", "system_failed", "timeout_template"})
    SWITCHES = frozenset({"template_quota", "drop_receipts"})
    VALUES: ClassVar[dict[str, float]] = {"receipt_delay": 0.1, "template_daily_limit": float(DAILY_LIMIT)}

    def __init__(self, sandbox: WechatSandbox) -> None:
        self.sandbox = sandbox
        self.templates: dict[str, dict[str, Any]] = {SANDBOX_TEMPLATE_ID: dict(DEMO_TEMPLATE)}
        self.messages: dict[str, dict[str, Any]] = {}  # msgid -> message
        self.recent: dict[str, str] = {}  # "touser client_msg_id" -> msgid (dedupe)
        self.sends: dict[str, int] = {}  # quota day -> accepted messages
        self.exhausted_day: str | None = None
        self.followers: dict[str, list[str]] = {name: [] for name in FOLLOWER_LISTS}

    _SAVED = ("messages", "recent", "sends", "exhausted_day", "followers")

    def snapshot(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self._SAVED}

    def restore(self, saved: dict[str, Any]) -> None:
        for key in self._SAVED:
            if key in saved:
                setattr(self, key, saved[key])
        for msgid, message in self.messages.items():  # receipts still owed when govcast stopped
            if message["status"] == "sending":
                self._schedule(msgid)

    # -- the API -----------------------------------------------------------------------------

    async def send(self, body: dict[str, Any]) -> JSONResponse:
        touser = str(body.get("touser") or "")
        if not OPENID_RE.match(touser):
            return err(40003, "invalid openid")
        if touser in self.followers["unfollowed"]:
            return err(43004, "require subscribe")
        if touser in self.followers["refused"]:
            return err(43101, "user refuse to accept the msg")
        template = self.templates.get(str(body.get("template_id") or ""))
        if template is None:
            return err(40037, "invalid template_id")
        given = body.get("data")
        data: dict[str, Any] = given if isinstance(given, dict) else {}
        for key in KEY_RE.findall(template["content"]):
            if bad_value(key, data.get(key)):
                return err(47003, f"argument invalid! data.{key}.value invalid")
        client_msg_id = str(body.get("client_msg_id") or "")
        faults, clock = self.sandbox.faults, self.sandbox.clock
        with self.sandbox.lock:
            now, day = clock.now(), clock.day()
            known = self.recent.get(f"{touser} {client_msg_id}") if client_msg_id else None
            if known and now - self.messages[known]["created_at"] < DEDUPE_SECONDS:
                self.messages[known]["repeats"] += 1  # WeChat sends it once: same msgid, nothing new
                self.sandbox.save()
                return answer({"errcode": 0, "errmsg": "ok", "msgid": int(known)})
            if faults.on("template_quota"):  # exhausts the current quota day; the next one starts afresh
                self.exhausted_day, faults.switches["template_quota"] = day, False
            if self.exhausted_day == day or self.sends.get(day, 0) >= faults.values["template_daily_limit"]:
                return err(45009, "reach max api daily quota limit")
            self.sends[day] = self.sends.get(day, 0) + 1
            msgid = str(self.sandbox._id())
            outcome = ("failed:user block" if touser in self.followers["blocked"] or faults.take("block_user")
                       else "failed: system failed" if faults.take("system_failed") else "success")
            self.messages[msgid] = {
                "msgid": msgid, "touser": touser, "template_id": template["template_id"], "url": body.get("url"),
                "client_msg_id": client_msg_id or None, "data": data, "status": "sending", "outcome": outcome,
                "created_at": now, "repeats": 0, "receipt": None}
            if client_msg_id:
                self.recent[f"{touser} {client_msg_id}"] = msgid
            self.sandbox.save()
        self._schedule(msgid)
        if faults.take("timeout_template"):
            await asyncio.sleep(faults.values["delay_seconds"])  # accepted, but the answer comes too late
        return answer({"errcode": 0, "errmsg": "ok", "msgid": int(msgid)})

    def _schedule(self, msgid: str) -> None:
        timer = threading.Timer(self.sandbox.faults.values["receipt_delay"], self._finish, args=(msgid,))
        timer.daemon = True
        timer.start()

    def _finish(self, msgid: str) -> None:
        """The message reached the user (or not): the TEMPLATESENDJOBFINISH event."""
        with self.sandbox.lock:
            message = self.messages.get(msgid)
            if message is None or message["status"] != "sending":
                return
            message["status"] = status = message["outcome"]
            now = self.sandbox.clock.now()
            xml = ("<xml><ToUserName><![CDATA[gh_sandbox000001]]></ToUserName>"
                   f"<FromUserName><![CDATA[{message['touser']}]]></FromUserName><CreateTime>{int(now)}</CreateTime>"
                   "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
                   f"<MsgID>{msgid}</MsgID><Status><![CDATA[{status}]]></Status></xml>").encode()
            dropped = self.sandbox.faults.on("drop_receipts")
            self.sandbox.save()
        receipt: dict[str, Any] = {"at": now, "url": self.sandbox.callback_url}
        receipt.update({"dropped": True} if dropped else self.sandbox.post_event(xml))
        with self.sandbox.lock:
            message["receipt"] = receipt
            self.sandbox.save()

    def set_followers(self, body: dict[str, Any]) -> JSONResponse:
        unknown = [k for k in body if k not in FOLLOWER_LISTS]
        if unknown or not all(isinstance(v, list) for v in body.values()):
            return answer({"error": f"lists of openids under {', '.join(FOLLOWER_LISTS)}"}, 400)
        with self.sandbox.lock:
            self.followers.update({k: [str(o) for o in v] for k, v in body.items()})
            self.sandbox.save()
        return answer({"followers": self.followers})

    def inspect(self) -> dict[str, Any]:
        with self.sandbox.lock:
            return {"templates": list(self.templates.values()),
                    "template_messages": [{k: v for k, v in m.items() if k != "outcome"} for m in self.messages.values()],
                    "followers": self.followers, "template_sends_per_day": self.sends}


def add_template_routes(app: FastAPI, sandbox: WechatSandbox) -> None:
    async def body_of(request: Request) -> dict[str, Any] | None:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    @app.post("/cgi-bin/message/template/send", summary="send a template message to a follower")
    async def template_send(request: Request) -> JSONResponse:
        refused = sandbox.check_token(request)
        if refused:
            return refused
        body = await body_of(request)
        if body is None:
            return err(47001, "data format error")
        return await sandbox.template.send(body)

    @app.get("/cgi-bin/template/get_all_private_template", summary="the account's templates")
    def private_templates(request: Request) -> JSONResponse:
        return sandbox.check_token(request) or answer({"template_list": list(sandbox.template.templates.values())})

    @app.get("/_followers", summary="(control) openids that do not follow, refuse or block the account")
    def followers() -> JSONResponse:
        return answer({"followers": sandbox.template.followers})

    @app.post("/_followers", summary="(control) set the lists unfollowed / refused / blocked")
    async def set_followers(request: Request) -> JSONResponse:
        return sandbox.template.set_followers(await body_of(request) or {})
