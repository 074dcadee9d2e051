"""Sandbox of the WeChat official-account API (shared/channels.md), mounted at /sandbox/wechat.

Contract: POST /cgi-bin/stable_token, GET /cgi-bin/token, /cgi-bin/material/add_material (thumb, image),
/cgi-bin/media/uploadimg (both in sandbox_media.py), /cgi-bin/draft/add (title ≤ 64 characters, the MP
editor's limit; images not from uploadimg stripped; at most 8 articles, 45008),
/cgi-bin/freepublish/{submit,get,batchget,delete}, /cgi-bin/message/mass/{sendall,get,delete} (once a day,
sandbox_mass.py); errcodes as WeChat answers them; tokens that expire in sandbox time; a daily submit quota
that resets at 00:00 Beijing time of the sandbox clock; publish jobs that finish asynchronously and POST a
signed PUBLISHJOBFINISH event to `{public_url}/callbacks/wechat`. Published articles are pages at
/s/<article_id>. Template messages (/cgi-bin/message/template/send, TEMPLATESENDJOBFINISH receipts):
wechat_template.py.

Controls (not part of the contract): GET /_inspect, GET|POST /_faults, GET|POST /_clock, POST /_reset.
Faults: busy N (-1), minute_quota N (45011), quota (45009 until the quota day rolls over),
check_fail N (53503), unverified (48001), timeout_submit N (the job is created but the answer
comes after delay_seconds), reject_review N (job ends with publish_status 4), drop_callbacks,
expire_token (the current token expires now: 42001), publish_delay (seconds a job takes),
submit_daily_limit (submits per quota day), followers (reached by a mass send). State is kept in
<data dir>/sandboxes/wechat.json, so a restarted govcast finds its articles, tokens and running jobs again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import threading
from typing import TYPE_CHECKING, Any

import nh3
import requests
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from adapters.common.sandbox_kit import Faults, SandboxClock, SandboxLabel, StateFile, add_controls, answer, later
from adapters.wechat import sandbox_mass, sandbox_media
from adapters.wechat.config import credentials, wechat_env
from adapters.wechat.template_sandbox import TemplateMessages, add_template_routes

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from adapters.common.install import Installation

log = logging.getLogger("govcast.sandbox.wechat")

TOKEN_TTL = 7200
RENEW_WINDOW = 300
SUBMIT_DAILY_LIMIT = 1000  # generous for demos and bulk tests; POST /_faults {"submit_daily_limit": N} to tighten
FORCE_DAILY_LIMIT = 20
LIMITS = {"title": (64, 45003, "title size out of limit"), "author": (16, 45110, "author size out of limit"),
          "digest": (128, 45004, "description size out of limit"),
          "content_source_url": (1024, 45005, "link size out of limit")}
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"


def err(code: int, msg: str) -> JSONResponse:
    return answer({"errcode": code, "errmsg": f"{msg} rid: sandbox-{secrets.token_hex(4)}"})


class WechatSandbox:
    def __init__(self, settings: Installation) -> None:
        appid, secret, token = credentials(settings)
        self.appid, self.secret, self.callback_token = appid, secret.get_secret_value(), token.get_secret_value()
        self.callback_url = f"{settings.base_url}/callbacks/wechat"
        self.public_base = f"{settings.base_url}/sandbox/wechat"
        self.default_delay = wechat_env(settings).timeout_seconds + 1.5
        self.clock = SandboxClock()
        self.lock = threading.RLock()
        self.state_file = StateFile(settings.data_dir / "sandboxes" / "wechat.json", self._snapshot)
        self.reset()
        self._restore()

    _SAVED = ("tokens", "current", "forced", "materials", "body_images", "drafts", "jobs", "articles", "deletions", "callbacks",
              "submits", "exhausted_day", "next_id", "mass")

    def save(self) -> None:
        self.state_file.request()

    def _snapshot(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps({"offset": self.clock.offset, "template": self.template.snapshot(),
                                          **{k: getattr(self, k) for k in self._SAVED}}))

    def _restore(self) -> None:
        saved = self.state_file.load()
        if not saved:
            return
        self.clock.offset = float(saved.get("offset", 0))
        for key in self._SAVED:
            if key in saved:
                setattr(self, key, saved[key])
        self.template.restore(saved.get("template") or {})
        for job in self.jobs.values():  # jobs keep running on the platform while govcast was down
            if job["publish_status"] == 1:
                later(self.faults.values["publish_delay"], self._finish, job["publish_id"], False)
        sandbox_mass.resume(self)

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def reset(self) -> None:
        with self.lock:
            self.clock.offset = 0.0
            self.faults = Faults({"busy", "minute_quota", "check_fail", "timeout_submit", "reject_review",
                                  *TemplateMessages.COUNTERS},
                                 {"quota", "unverified", "drop_callbacks", "expire_token", *TemplateMessages.SWITCHES})
            self.faults.values.update(publish_delay=0.2, delay_seconds=self.default_delay,
                                      submit_daily_limit=SUBMIT_DAILY_LIMIT, followers=sandbox_mass.FOLLOWERS,
                                      **TemplateMessages.VALUES)
            self.template = TemplateMessages(self)  # template messages (policy push), wechat_template.py
            self.tokens: dict[str, dict[str, Any]] = {}
            self.current: str | None = None
            self.forced: list[float] = []
            self.materials: dict[str, dict[str, Any]] = {}
            self.drafts: dict[str, dict[str, Any]] = {}
            self.jobs: dict[str, dict[str, Any]] = {}
            self.articles: dict[str, dict[str, Any]] = {}
            self.deletions: list[dict[str, Any]] = []
            self.callbacks: list[dict[str, Any]] = []
            self.submits: dict[str, int] = {}
            self.exhausted_day: str | None = None
            self.images: dict[str, bytes] = {}
            self.body_images: dict[str, dict[str, Any]] = {}  # uploadimg URL -> size, type
            self.next_id = 2247483646
            self.mass: dict[str, dict[str, Any]] = {}  # msg_id -> mass send (sandbox_mass.py)

    # -- tokens ------------------------------------------------------------------------------

    def _issue(self) -> dict[str, Any]:
        value = "sbx_" + secrets.token_urlsafe(36)
        token = {"value": value, "expires_at": self.clock.now() + TOKEN_TTL, "revoked": False}
        self.tokens[value] = token
        self.current = value
        self.save()
        return token

    def stable_token(self, body: dict[str, Any]) -> JSONResponse:
        if body.get("grant_type") != "client_credential":
            return err(40002, "invalid grant_type")
        if body.get("appid") != self.appid:
            return err(40013, "invalid appid")
        if body.get("secret") != self.secret:
            return err(40125, "invalid appsecret")
        with self.lock:
            now = self.clock.now()
            token: dict[str, Any] | None = self.tokens.get(self.current or "")
            if body.get("force_refresh") in (True, "true", 1):
                day_ago = [t for t in self.forced if now - t < 86400]
                if len(day_ago) >= FORCE_DAILY_LIMIT:
                    return err(45009, "reach max api daily quota limit")
                if not day_ago or now - max(day_ago) >= 30:  # closer than 30 s: no refresh, the same token
                    if token:
                        token["revoked"] = True
                    self.forced = [*day_ago, now]
                    token = self._issue()
            elif token is None or token["revoked"] or token["expires_at"] - now <= RENEW_WINDOW:
                token = self._issue()  # the previous one stays valid until its own expiry
            assert token is not None
            return answer({"access_token": token["value"], "expires_in": int(token["expires_at"] - now)})

    def check_token(self, request: Request) -> JSONResponse | None:
        value = request.query_params.get("access_token", "")
        if not value:
            return err(41001, "access_token missing")
        with self.lock:
            if self.faults.on("expire_token"):
                for held in self.tokens.values():
                    held["expires_at"] = min(held["expires_at"], self.clock.now() - 1)
                self.faults.switches["expire_token"] = False
            token = self.tokens.get(value)
            if token is None or token["revoked"]:
                return err(40001, "invalid credential, access_token is invalid or not latest")
            if token["expires_at"] <= self.clock.now():
                return err(42001, "access_token expired")
        if self.faults.take("busy"):
            return err(-1, "system error")
        if self.faults.take("minute_quota"):
            return err(45011, "api minute-quota reach limit  mustslower  retry next minute")
        return None

    # -- contract ----------------------------------------------------------------------------

    def draft_add(self, body: dict[str, Any]) -> JSONResponse:
        articles = body.get("articles")
        if not isinstance(articles, list) or not articles:
            return err(44003, "empty news data")
        if len(articles) > sandbox_mass.MAX_ARTICLES:
            return err(45008, "article size out of limit")
        for article in articles:
            if not article.get("title") or not article.get("content"):
                return err(44003, "empty content")
            for name, (limit, code, msg) in LIMITS.items():
                if len(str(article.get(name) or "")) > limit:
                    return err(code, msg)
            content = str(article["content"])
            if len(content) >= 20_000 or len(content.encode()) >= 1 << 20:
                return err(45002, "content size out of limit")
            if "<script" in content.lower() or "javascript:" in content.lower():
                return err(45166, "invalid content")
            if article.get("thumb_media_id") not in self.materials:
                return err(40007, "invalid media_id")
        kept = []
        for article in articles:  # as WeChat does: images whose URL did not come from uploadimg are dropped
            content, stripped = sandbox_media.strip_foreign_images(self, str(article["content"]))
            kept.append({**article, "content": content, **({"stripped_images": stripped} if stripped else {})})
        articles = kept
        with self.lock:
            media_id = "sbx_draft_" + secrets.token_hex(12)
            self.drafts[media_id] = {"articles": articles, "created_at": self.clock.now()}
            self.save()
        return answer({"media_id": media_id})

    async def submit(self, body: dict[str, Any]) -> JSONResponse:
        if self.faults.on("unverified"):
            return err(48001, "api unauthorized")
        draft = self.drafts.get(str(body.get("media_id")))
        if draft is None:
            return err(40007, "invalid media_id")
        with self.lock:
            day = self.clock.day()
            if self.faults.on("quota"):  # exhausts the current quota day's submits; the next day starts afresh
                self.exhausted_day, self.faults.switches["quota"] = day, False
            if self.exhausted_day == day or self.submits.get(day, 0) >= self.faults.values["submit_daily_limit"]:
                return err(45009, "reach max api daily quota limit")
            if self.faults.take("check_fail"):
                return err(53503, "该草稿未通过发布检查")
            self.submits[day] = self.submits.get(day, 0) + 1
            publish_id = str(self._id())
            self.jobs[publish_id] = {"publish_id": publish_id, "media_id": body["media_id"], "publish_status": 1,
                                     "article_id": None, "fail_idx": [], "submitted_at": self.clock.now()}
            reject = self.faults.take("reject_review")
            delay = self.faults.values["publish_delay"]
            msg_data_id = self._id()
            self.save()
        later(delay, self._finish, publish_id, reject)
        if self.faults.take("timeout_submit"):
            await asyncio.sleep(self.faults.values["delay_seconds"])  # the answer comes too late for the caller
        return answer({"errcode": 0, "errmsg": "ok", "publish_id": publish_id, "msg_data_id": msg_data_id})

    def _finish(self, publish_id: str, reject: bool) -> None:
        with self.lock:
            job = self.jobs[publish_id]
            if reject:
                job.update(publish_status=4, fail_idx=[1], finished_at=self.clock.now())
            else:
                article_id = "sbx_art_" + secrets.token_hex(12)
                news = [{**a, "url": f"{self.public_base}/s/{article_id}?idx={i}", "is_deleted": False,
                         "thumb_url": self.materials.get(a.get("thumb_media_id"), {}).get("url")}
                        for i, a in enumerate(self.drafts[job["media_id"]]["articles"], start=1)]
                self.articles[article_id] = {"article_id": article_id, "publish_id": publish_id, "news_item": news,
                                             "url": f"{self.public_base}/s/{article_id}", "update_time": int(self.clock.now())}
                job.update(publish_status=0, article_id=article_id, finished_at=self.clock.now())
            event = self._event_xml(job)
            self.save()
        self._send_callback(publish_id, job["publish_status"], event)

    def _event_xml(self, job: dict[str, Any]) -> bytes:
        info = f"<publish_id>{job['publish_id']}</publish_id><publish_status>{job['publish_status']}</publish_status>"
        if job["article_id"]:
            article = self.articles[job["article_id"]]
            items = "".join(f"<item><idx>{i}</idx><article_url><![CDATA[{n['url']}]]></article_url></item>"
                            for i, n in enumerate(article["news_item"], start=1))
            info += (f"<article_id><![CDATA[{job['article_id']}]]></article_id>"
                     f"<article_detail><count>{len(article['news_item'])}</count>{items}</article_detail>")
        info += "".join(f"<fail_idx>{i}</fail_idx>" for i in job["fail_idx"])
        return (f"<xml><ToUserName><![CDATA[gh_sandbox000001]]></ToUserName><FromUserName><![CDATA[sandbox]]></FromUserName>"
                f"<CreateTime>{int(self.clock.now())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
                f"<Event><![CDATA[PUBLISHJOBFINISH]]></Event><PublishEventInfo>{info}</PublishEventInfo></xml>").encode()

    def _send_callback(self, publish_id: str, status: int, xml: bytes) -> None:
        entry: dict[str, Any] = {"publish_id": publish_id, "publish_status": status, "url": self.callback_url,
                                 "at": self.clock.now()}
        if self.faults.on("drop_callbacks"):
            entry["dropped"] = True
        else:
            entry.update(self.post_event(xml))
        with self.lock:
            self.callbacks.append(entry)
            self.save()

    def post_event(self, xml: bytes) -> dict[str, Any]:
        """POST an event to govcast's server URL, signed as WeChat signs them; what came back (for _inspect)."""
        timestamp, nonce = str(int(self.clock.now())), secrets.token_hex(8)
        sig = hashlib.sha1("".join(sorted([self.callback_token, timestamp, nonce])).encode()).hexdigest()
        try:
            response = requests.post(self.callback_url, data=xml, timeout=10, headers={"Content-Type": "text/xml"},
                                     params={"signature": sig, "timestamp": timestamp, "nonce": nonce})
        except requests.RequestException as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        return {"http_status": response.status_code, "answer": response.text[:100]}

    def publish_get(self, body: dict[str, Any]) -> JSONResponse:
        job = self.jobs.get(str(body.get("publish_id")))
        if job is None:
            return err(53600, "invalid publish_id")
        data: dict[str, Any] = {"publish_id": job["publish_id"], "publish_status": job["publish_status"],
                                "fail_idx": job["fail_idx"]}
        article = self.articles.get(job["article_id"] or "")
        if article:
            if all(n["is_deleted"] for n in article["news_item"]):
                data["publish_status"] = 5
            data.update(article_id=article["article_id"], article_detail={"count": len(article["news_item"]), "item": [
                {"idx": i, "article_url": n["url"]} for i, n in enumerate(article["news_item"], start=1)]})
        return answer(data)

    def batchget(self, body: dict[str, Any]) -> JSONResponse:
        offset, count = int(body.get("offset", 0)), int(body.get("count", 0))
        if not 1 <= count <= 20 or offset < 0:
            return err(47001, "data format error")
        published = (a for a in self.articles.values() if not a.get("mass_msg_id"))  # 发表记录: not mass sends
        ordered = sorted(published, key=lambda a: a["update_time"], reverse=True)
        no_content = int(body.get("no_content", 0)) == 1
        items = [{"article_id": a["article_id"], "update_time": a["update_time"], "content": {"news_item": [
            {k: v for k, v in n.items() if not (no_content and k == "content")} for n in a["news_item"]]}}
            for a in ordered[offset:offset + count]]
        return answer({"total_count": len(ordered), "item_count": len(items), "item": items})

    def delete(self, body: dict[str, Any]) -> JSONResponse:
        article = self.articles.get(str(body.get("article_id")))
        if article is None:
            return err(53600, "Article ID 无效")
        index = int(body.get("index", 0))
        with self.lock:
            for i, news in enumerate(article["news_item"], start=1):
                if index in (0, i):
                    news["is_deleted"] = True
            self.deletions.append({"article_id": article["article_id"], "index": index, "at": self.clock.now()})
            self.save()
        return answer({"errcode": 0, "errmsg": "ok"})

    # -- pages and inspection ----------------------------------------------------------------

    def page(self, article_id: str, idx: int = 1) -> HTMLResponse:
        article = self.articles.get(article_id)
        if article is None or not 1 <= idx <= len(article["news_item"]) or article["news_item"][idx - 1]["is_deleted"]:
            return HTMLResponse("<!doctype html><meta charset=utf-8><title>沙箱</title><p>[SANDBOX] 该内容已被发布者删除</p>",
                                status_code=404, headers={"Content-Security-Policy": PAGE_CSP})
        news = article["news_item"][idx - 1]  # ?idx=: the article's place in a multi-article message
        esc = nh3.clean_text
        body = nh3.clean(str(news.get("content", "")),
                         attributes={"*": {"style"}, "td": {"colspan", "rowspan"}, "img": {"src", "alt"}})
        read_more = f'<p><a href="{esc(news.get("content_source_url") or "")}">阅读原文</a></p>' if news.get(
            "content_source_url") else ""
        page = (f"<!doctype html><html lang=zh-CN><meta charset=utf-8><title>{esc(news['title'])}（沙箱）</title>"
                f"<p style='background:#fe0;padding:4px'>SANDBOX 微信公众号沙箱 — not the real WeChat</p>"
                f"<h1>{esc(news['title'])}</h1><p>{esc(news.get('author') or '')}</p>{body}{read_more}</html>")
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_CSP})

    def inspect(self) -> dict[str, Any]:
        with self.lock:
            articles = [{"article_id": a["article_id"], "publish_id": a["publish_id"], "url": a["url"],
                         "deleted": all(n["is_deleted"] for n in a["news_item"]),
                         "news_item": a["news_item"]} for a in self.articles.values()]
            now = self.clock.now()
            return {
                "tokens": [{"token": t["value"][:8] + "…", "expires_in": int(t["expires_at"] - now), "revoked": t["revoked"],
                            "current": t["value"] == self.current} for t in self.tokens.values()],
                "force_refreshes": len(self.forced),
                "materials": [{"media_id": k, "size": v["size"], "url": v["url"]} for k, v in self.materials.items()],
                "drafts": [{"media_id": k, "titles": [a.get("title") for a in v["articles"]],
                            "stripped_images": [i for a in v["articles"] for i in a.get("stripped_images", [])]}
                           for k, v in self.drafts.items()],
                **sandbox_media.describe(self), **sandbox_mass.describe(self),
                "publish_jobs": list(self.jobs.values()), "articles": articles, "deletions": self.deletions,
                "callbacks": self.callbacks, "submits_per_day": self.submits, **self.template.inspect(),
            }


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return {"__bad__": True}
    return body if isinstance(body, dict) else {"__bad__": True}


def wechat_sandbox(settings: Installation) -> ASGIApp:
    sandbox = WechatSandbox(settings)
    app = FastAPI(title="WeChat official account — SANDBOX", docs_url="/_docs", openapi_url="/_openapi.json")
    app.state.sandbox = sandbox

    @app.post("/cgi-bin/stable_token")
    async def stable_token(request: Request) -> JSONResponse:
        return sandbox.stable_token(await _json(request))

    @app.get("/cgi-bin/token")
    def token(grant_type: str = "", appid: str = "", secret: str = "") -> JSONResponse:
        return sandbox.stable_token({"grant_type": grant_type, "appid": appid, "secret": secret})

    @app.post("/cgi-bin/material/add_material")
    async def add_material(request: Request) -> JSONResponse:
        return sandbox.check_token(request) or await sandbox_media.add_material(sandbox, request)

    @app.post("/cgi-bin/media/uploadimg")
    async def uploadimg(request: Request) -> JSONResponse:
        return sandbox.check_token(request) or await sandbox_media.uploadimg(sandbox, request)

    json_apis = {"/cgi-bin/draft/add": sandbox.draft_add, "/cgi-bin/freepublish/get": sandbox.publish_get,
                 "/cgi-bin/freepublish/batchget": sandbox.batchget, "/cgi-bin/freepublish/delete": sandbox.delete,
                 "/cgi-bin/message/mass/sendall": lambda body: sandbox_mass.sendall(sandbox, body),
                 "/cgi-bin/message/mass/get": lambda body: sandbox_mass.get(sandbox, body),
                 "/cgi-bin/message/mass/delete": lambda body: sandbox_mass.delete(sandbox, body)}

    async def json_api(request: Request) -> Response:
        refused = sandbox.check_token(request)
        if refused:
            return refused
        body = await _json(request)
        if body.get("__bad__"):
            return err(47001, "data format error")
        if request.url.path.endswith("/freepublish/submit"):
            return await sandbox.submit(body)
        return json_apis[request.scope["route"].path](body)

    for path in [*json_apis, "/cgi-bin/freepublish/submit"]:
        app.add_api_route(path, json_api, methods=["POST"])

    @app.get("/s/{article_id}", response_class=HTMLResponse)
    def article_page(article_id: str, idx: int = 1) -> HTMLResponse:
        return sandbox.page(article_id, idx)

    @app.get("/material/{name}")
    @app.get("/mmbiz/{name}")
    def stored_image(name: str) -> Response:
        found = sandbox_media.image_response(sandbox, name)
        return Response(found[0], media_type=found[1]) if found else Response(status_code=404)

    add_template_routes(app, sandbox)
    add_controls(app, "wechat", sandbox)
    return SandboxLabel(app, "wechat")
