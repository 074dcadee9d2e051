"""Sandbox of the Weibo open API (shared/channels.md), mounted at /sandbox/weibo.

Contract: POST /2/statuses/share.json (form `status`, optional multipart `pic`: a JPG, PNG or GIF of at most
5 MB, else 20005 / 20006), POST /2/statuses/destroy.json
(`id`), GET /2/statuses/user_timeline.json; the token in `Authorization: OAuth2 …` or as
`access_token`; errors `{request, error_code, error}` with HTTP 400. Checked like Weibo: the
length as Weibo counts it (≤ 140, else 20012), a link on the app's safe domain (else 10017),
identical (20019) or similar (20017, same text but links) repeats of a live post, a per-hour
posting limit in sandbox time (10023). Posts are pages at /web/<uid>/<id>.

Controls (not part of the contract): GET /_inspect, GET|POST /_faults, GET|POST /_clock, POST /_reset.
Faults: busy N (10001), rate_limit N (10023), ip_rate_limit N (10022), timeout_share N (the post is
made but the answer comes after delay_seconds), expire_token (21327), revoke_token (21332),
hourly_limit (posts per hour). State is kept in <data dir>/sandboxes/weibo.json across restarts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import nh3
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from adapters.common.sandbox_kit import CST, Faults, SandboxClock, SandboxLabel, StateFile, add_controls, answer
from adapters.common.textfit import URL_RE, squash
from adapters.weibo.config import weibo_env, weibo_token
from adapters.weibo.render import MAX_CHARS, weibo_length

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from adapters.common.install import Installation

PIC_MAX = 5 * 1024 * 1024
PIC_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png", b"GIF8": "image/gif"}
HOURLY_SHARE_LIMIT = 1000  # real accounts get far fewer; POST /_faults {"hourly_limit": N} to tighten
TOKEN_TTL = 30 * 86400
UID = 5_000_000_001


def err(request: Request, code: int, message: str) -> JSONResponse:
    return answer({"request": request.url.path, "error_code": code, "error": message}, status=400)


class WeiboSandbox:
    def __init__(self, settings: Installation) -> None:
        self.token = weibo_token(settings).get_secret_value()
        self.safe_domain = (weibo_env(settings).safe_domain or urlsplit(settings.base_url).hostname or "localhost").lower()
        self.public_base = f"{settings.base_url}/sandbox/weibo"
        self.screen_name = "政务发布（沙箱）"
        self.default_delay = weibo_env(settings).timeout_seconds + 1.5
        self.clock = SandboxClock()
        self.lock = threading.RLock()
        self.state_file = StateFile(settings.data_dir / "sandboxes" / "weibo.json", self._snapshot)
        self.reset()
        self._restore()

    def save(self) -> None:
        self.state_file.request()

    def _snapshot(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps({"offset": self.clock.offset, "token_expires_at": self.token_expires_at,
                                          "posts": self.posts, "deletions": self.deletions, "next_id": self.next_id}))

    def reset(self) -> None:
        with self.lock:
            self.clock.offset = 0.0
            self.faults = Faults({"busy", "rate_limit", "ip_rate_limit", "timeout_share"}, {"expire_token", "revoke_token"})
            self.faults.values.update(delay_seconds=self.default_delay, hourly_limit=HOURLY_SHARE_LIMIT)
            self.token_expires_at = self.clock.now() + TOKEN_TTL
            self.posts: dict[str, dict[str, Any]] = {}
            self.deletions: list[dict[str, Any]] = []
            self.pictures: dict[str, tuple[bytes, str]] = {}  # post id -> picture, media type (not kept across restarts)
            self.next_id = 4_990_000_000_000_000

    def _restore(self) -> None:
        saved = self.state_file.load()
        if saved:
            self.clock.offset = float(saved.get("offset") or 0)
            self.token_expires_at = float(saved.get("token_expires_at") or self.token_expires_at)
            self.posts, self.deletions, self.next_id = saved["posts"], saved["deletions"], int(saved["next_id"])

    def _auth(self, request: Request, form: dict[str, Any]) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        given = header.removeprefix("OAuth2 ").strip() if header else str(form.get("access_token")
                                                                          or request.query_params.get("access_token", ""))
        if self.faults.on("expire_token"):
            self.token_expires_at = min(self.token_expires_at, self.clock.now() - 1)
            self.faults.switches["expire_token"] = False
        if not given or given != self.token or self.faults.on("revoke_token"):
            return err(request, 21332, "invalid_access_token")
        if self.token_expires_at <= self.clock.now():
            return err(request, 21327, "expired_token")
        if self.faults.take("busy"):
            return err(request, 10001, "System error")
        if self.faults.take("ip_rate_limit"):
            return err(request, 10022, "IP requests out of rate limit!")
        if self.faults.take("rate_limit"):
            return err(request, 10023, "User requests out of rate limit!")
        return None

    def _status(self, post: dict[str, Any]) -> dict[str, Any]:
        return {k: post[k] for k in ("id", "idstr", "mid", "created_at", "text", "source")} | {
            "user": {"id": UID, "idstr": str(UID), "screen_name": self.screen_name}}

    async def share(self, request: Request) -> JSONResponse:
        form = dict(await request.form())
        refused = self._auth(request, form)
        if refused:
            return refused
        text = str(form.get("status") or "")
        if not text:
            return err(request, 10016, "miss required parameter (status)")
        if weibo_length(text) > MAX_CHARS:
            return err(request, 20012, "Text too long, please input text less than 140 characters!")
        hosts = [(urlsplit(u).hostname or "").lower() for u in URL_RE.findall(text)]
        if not any(h == self.safe_domain or h.endswith("." + self.safe_domain) for h in hosts):
            return err(request, 10017, f"Parameter (status)'s value invalid, expect (a url of the safe domain "
                                       f"{self.safe_domain}), see doc for more info")
        picture = await _picture(form.get("pic"))
        if isinstance(picture, str):
            code, message = (20006, "Image size too large.") if picture == "size" else (20005, "Unsupported image type, "
                                                                                          "only supported JPG, GIF, PNG!")
            return err(request, code, message)
        with self.lock:
            now = self.clock.now()
            live = [p for p in self.posts.values() if not p["deleted"]]
            if any(p["text"] == text for p in live):
                return err(request, 20019, "Repeat content!")
            if any(squash(URL_RE.sub(" ", p["text"])) == squash(URL_RE.sub(" ", text)) for p in live):
                return err(request, 20017, "Repeated weibo text!")
            if sum(1 for p in self.posts.values() if now - p["at"] < 3600) >= self.faults.values["hourly_limit"]:
                return err(request, 10023, "User requests out of rate limit!")
            self.next_id += 1
            number = self.next_id
            created = dt.datetime.fromtimestamp(now, CST).strftime("%a %b %d %H:%M:%S %z %Y")
            post = {"id": number, "idstr": str(number), "mid": str(number), "created_at": created, "text": text,
                    "source": "<a href=\"https://open.weibo.com\">govcast（沙箱）</a>", "at": now, "deleted": False,
                    "length": weibo_length(text), "url": f"{self.public_base}/web/{UID}/{number}",
                    "has_pic": picture is not None,
                    **({"pic": {"size": len(picture[0]), "type": picture[1]}} if picture else {})}
            self.posts[str(number)] = post
            if picture:
                self.pictures[str(number)] = picture
            self.save()
        if self.faults.take("timeout_share"):
            await asyncio.sleep(self.faults.values["delay_seconds"])
        return answer(self._status(post))

    async def destroy(self, request: Request) -> JSONResponse:
        form = dict(await request.form())
        refused = self._auth(request, form)
        if refused:
            return refused
        with self.lock:
            post = self.posts.get(str(form.get("id") or ""))
            if post is None or post["deleted"]:
                return err(request, 20101, "Target weibo does not exist!")
            post["deleted"] = True
            self.deletions.append({"id": post["idstr"], "at": self.clock.now()})
            self.save()
        return answer(self._status(post))

    def timeline(self, request: Request) -> JSONResponse:
        refused = self._auth(request, {})
        if refused:
            return refused
        count = max(1, min(int(request.query_params.get("count", 20) or 20), 100))
        with self.lock:
            live = sorted((p for p in self.posts.values() if not p["deleted"]), key=lambda p: p["at"], reverse=True)
        return answer({"statuses": [self._status(p) for p in live[:count]], "total_number": len(live)})

    def page(self, post_id: str) -> HTMLResponse:
        post = self.posts.get(post_id)
        csp = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"}
        if post is None or post["deleted"]:
            return HTMLResponse("<!doctype html><meta charset=utf-8><p>[SANDBOX] 该微博已被删除</p>", 404, headers=csp)
        text = nh3.clean_text(post["text"])
        for url in sorted(set(URL_RE.findall(post["text"])), key=len, reverse=True):
            safe = nh3.clean_text(url)
            text = text.replace(safe, f'<a href="{safe}">{safe}</a>')
        return HTMLResponse(f"<!doctype html><html lang=zh-CN><meta charset=utf-8><title>微博（沙箱）</title>"
                            f"<p style='background:#fe0;padding:4px'>SANDBOX 微博沙箱 — not the real Weibo</p>"
                            f"<p><b>{nh3.clean_text(self.screen_name)}</b> {post['created_at']}</p><p>{text}</p>"
                            + (f"<p><img src='{self.public_base}/pic/{post['idstr']}' alt='配图' style='max-width:100%'></p>"
                               if post.get("pic") else "") + "</html>",
                            headers=csp)

    def inspect(self) -> dict[str, Any]:
        with self.lock:
            return {"posts": [{k: v for k, v in p.items() if k != "at"} for p in self.posts.values()],
                    "deletions": list(self.deletions), "safe_domain": self.safe_domain,
                    "token_expires_in": int(self.token_expires_at - self.clock.now()),
                    }


async def _picture(field: Any) -> tuple[bytes, str] | str | None:
    """The post's picture and its media type; "size" or "type" when Weibo would refuse it; None without one."""
    if field is None:
        return None
    if isinstance(field, str):
        return "type"  # a text field named pic, not a file
    data = await field.read()
    if len(data) > PIC_MAX:
        return "size"
    kind = next((media for magic, media in PIC_TYPES.items() if data.startswith(magic)), None)
    return (data, kind) if kind else "type"


def weibo_sandbox(settings: Installation) -> ASGIApp:
    sandbox = WeiboSandbox(settings)
    app = FastAPI(title="Weibo open API — SANDBOX", docs_url="/_docs", openapi_url="/_openapi.json")
    app.state.sandbox = sandbox
    app.add_api_route("/2/statuses/share.json", sandbox.share, methods=["POST"])
    app.add_api_route("/2/statuses/destroy.json", sandbox.destroy, methods=["POST"])
    app.add_api_route("/2/statuses/user_timeline.json", sandbox.timeline, methods=["GET"])

    @app.get("/pic/{post_id}")
    def picture(post_id: str) -> Response:
        found = sandbox.pictures.get(post_id)
        return Response(found[0], media_type=found[1]) if found else Response(status_code=404)

    @app.get("/web/{uid}/{post_id}", response_class=HTMLResponse)
    def post_page(uid: str, post_id: str) -> HTMLResponse:
        return sandbox.page(post_id)

    add_controls(app, "weibo", sandbox)
    return SandboxLabel(app, "weibo")
