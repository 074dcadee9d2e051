"""Weibo channel: one post per publication through statuses/share; retraction through statuses/destroy.

statuses/share is not idempotent, so the adapter writes `state: sharing` in its ledger before
the call. After a timeout (unknown outcome) or a 20017 / 20019 answer (similar / identical
content already posted) it looks for its own post in the account's timeline (matching the
text with links left out: Weibo rewrites links to t.cn) instead of posting blindly; only when
none is found does a timeout lead to a new share (and Weibo's own duplicate check still
refuses an identical second post). A publication with its own cover carries it as the post's picture
(multipart `pic`). Row `pub:<publication id>` remembers the post of a
publication: a revision does not post again (the post links to the portal page, which
carries it) and a retraction knows what to delete.

Calls send the token in the `Authorization: OAuth2 …` header, never in a URL.
"""

from __future__ import annotations

import base64
import logging
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests

from adapters.base import AdapterServices
from adapters.common.textfit import URL_RE, squash
from adapters.transport import MaybeSent, NotSent, TransportError, send, with_retries
from adapters.weibo.config import WeiboConfig
from adapters.weibo.render import MAX_CHARS, weibo_length
from schemas.delivery import Action, Delivered, DeliveryResult, DeliveryTask, Rejected, Retryable, UnknownOutcome

log = logging.getLogger("govcast.adapters.weibo")

CHANNEL = "weibo"
RATE_LIMITS = {10022: "IP request rate limit", 10023: "user request rate limit", 10024: "user rate limit for this API",
               20016: "posting too fast"}
SERVER_BUSY = {10001: "system error", 10002: "service unavailable", 10009: "too many pending tasks"}
CONFIGURATION = {10014: "the app has no permission for statuses/share", 10017: "the post needs a link on the app's safe domain",
                 20018: "the link is not allowed (not the app's safe domain)", 21327: "access token expired",
                 21332: "access token invalid", 21314: "token used", 21315: "token expired", 21316: "token revoked",
                 21317: "token rejected", 21319: "authorization revoked", 21501: "authorization invalid"}
DUPLICATE = {20017: "similar content posted recently", 20019: "identical content already posted"}
NOT_FOUND = 20101
RATE_RETRY = 600.0


class WeiboError(Exception):
    def __init__(self, code: int, message: str, api: str) -> None:
        super().__init__(f"{api}: error_code {code}: {message}")
        self.code, self.message, self.api = code, message, api


def classify(err: WeiboError) -> DeliveryResult:
    said = f"Weibo {err.api} error_code {err.code}: {err.message}"
    if err.code in RATE_LIMITS:
        return Retryable(reason=f"{RATE_LIMITS[err.code]} ({said})", retry_after=RATE_RETRY)
    if err.code in SERVER_BUSY:
        return Retryable(reason=f"{SERVER_BUSY[err.code]} ({said})", retry_after=30.0)
    if err.code in CONFIGURATION:
        return Rejected(reason=f"configuration problem: {CONFIGURATION[err.code]} ({said})", code="configuration")
    if err.code in DUPLICATE:
        return Rejected(reason=f"{DUPLICATE[err.code]} and no post of ours found ({said})", code="duplicate")
    if err.code == 20012:
        return Rejected(reason=f"text longer than {MAX_CHARS} ({said})", code="content")
    return Rejected(reason=f"unexpected platform error ({said})", code=str(err.code))


def _key_text(text: str) -> str:
    """What survives Weibo's rewriting of a post: the text with links removed, whitespace squashed."""
    return squash(URL_RE.sub(" ", text))


class WeiboAdapter:
    channel: ClassVar[str] = CHANNEL

    def __init__(self, config: WeiboConfig, services: AdapterServices) -> None:
        self.config = config
        self.ledger = services.ledger
        self.clock = services.clock
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"OAuth2 {config.access_token.get_secret_value()}"

    def close(self) -> None:
        self.session.close()

    def deliver(self, task: DeliveryTask) -> DeliveryResult:
        if task.recipient is not None:
            return Rejected(reason="Weibo posts go to the whole account", code="recipient_not_supported")
        try:
            return self._retract(task) if task.action is Action.retract else self._publish(task)
        except WeiboError as err:
            return classify(err)
        except TransportError as exc:
            return Retryable(reason=f"Weibo unreachable: {exc.reason}", retry_after=30.0)

    # -- HTTP --------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> dict[str, Any]:
        url = f"{self.config.base_url}{path}"

        def once() -> dict[str, Any]:
            response = send(self.session, method, url, timeout=self.config.timeout_seconds, **kwargs)
            try:
                data = response.json()
            except ValueError:
                raise MaybeSent(f"{path}: answer is not JSON (HTTP {response.status_code})") from None
            if not isinstance(data, dict):
                raise MaybeSent(f"{path}: answer is not a JSON object")
            if data.get("error_code"):
                raise WeiboError(int(data["error_code"]), str(data.get("error", "")), path)
            return data

        return with_retries(once, idempotent=idempotent)

    # -- publish -----------------------------------------------------------------------------

    def _publish(self, task: DeliveryTask) -> DeliveryResult:
        pub, key = task.publication, task.delivery_id
        facts = self.ledger.get(CHANNEL, key)
        if facts.get("id"):
            return Delivered(url=facts.get("url"), external_id=facts["id"], detail="posted")
        earlier = self.ledger.get(CHANNEL, self._pub_key(pub.id))
        if earlier.get("deleted"):
            return Delivered(detail="retracted meanwhile: nothing posted on Weibo")
        if earlier.get("id") and earlier.get("delivery") != key:
            return Delivered(url=earlier.get("url"), external_id=earlier["id"],
                             detail=f"already on Weibo (version {earlier.get('version')}); its link shows "
                                    f"version {pub.version} on the portal")
        text, link = str(task.rendition.get("status") or ""), str(task.rendition.get("url") or "")
        problem = self._check_text(text, link)
        if problem:
            return problem
        if facts.get("state") == "sharing":  # an earlier share timed out: was it posted?
            found = self._find(text)
            if found is not None:
                return self._record(task, found, "posted (found after a timeout)")
        self.ledger.put(CHANNEL, key, state="sharing")
        try:
            post = self._call("POST", "/2/statuses/share.json", idempotent=False, data={"status": text},
                              **self._picture(task))
        except NotSent as exc:
            self.ledger.put(CHANNEL, key, state="new")
            return Retryable(reason=f"Weibo unreachable: {exc.reason}", retry_after=30.0)
        except MaybeSent as exc:
            return UnknownOutcome(reason=f"statuses/share: {exc.reason}", reconcile_after=5.0)
        except WeiboError as err:
            if err.code in DUPLICATE:
                found = self._find(text)
                if found is not None:
                    return self._record(task, found, f"already posted ({DUPLICATE[err.code]}), reconciled")
            self.ledger.put(CHANNEL, key, state="new")
            raise
        return self._record(task, post, "posted with the department's cover as its picture" if self._picture(task) else "posted")

    @staticmethod
    def _picture(task: DeliveryTask) -> dict[str, Any]:
        """The department's cover as the post's picture (multipart `pic`, schemas.cover: a JPEG of at most 64 KB)."""
        cover = task.publication.cover
        if cover is None or not task.rendition.get("picture"):
            return {}
        return {"files": {"pic": ("cover.jpg", base64.b64decode(cover.data), "image/jpeg")}}

    def _check_text(self, text: str, link: str) -> Rejected | None:
        if not text or not link:
            return Rejected(reason="no Weibo rendition on the task", code="content")
        host = (urlsplit(link).hostname or "").lower()
        safe = self.config.safe_domain.lower()
        if host != safe and not host.endswith("." + safe):
            return Rejected(reason=f"configuration problem: the portal link {link} is not on the safe domain {safe}",
                            code="configuration")
        if weibo_length(text) > MAX_CHARS:
            return Rejected(reason=f"text is {weibo_length(text)} characters as Weibo counts, over {MAX_CHARS}", code="content")
        return None

    def _find(self, text: str) -> dict[str, Any] | None:
        """Our post among the account's latest ones (links left out of the comparison)."""
        wanted, ours = _key_text(text), set(URL_RE.findall(text))
        safe = self.config.safe_domain.lower()
        answer = self._call("GET", "/2/statuses/user_timeline.json", idempotent=True, params={"count": 50})
        for status in answer.get("statuses") or []:
            posted = str(status.get("text", ""))
            if _key_text(posted) != wanted:
                continue
            # the same words about another portal page are not our post (t.cn links cannot tell: accepted)
            portal_links = {u for u in URL_RE.findall(posted) if (urlsplit(u).hostname or "").lower().endswith(safe)}
            if portal_links and not portal_links & ours:
                continue
            return dict(status)
        return None

    def _record(self, task: DeliveryTask, post: dict[str, Any], detail: str) -> DeliveryResult:
        post_id = str(post.get("idstr") or post.get("id"))
        uid = str((post.get("user") or {}).get("idstr") or (post.get("user") or {}).get("id") or "")
        url = f"{self.config.web_url}/{uid}/{post_id}" if uid else f"{self.config.web_url}/detail/{post_id}"
        self.ledger.put(CHANNEL, task.delivery_id, external_ref=post_id, state="posted", id=post_id, url=url)
        self.ledger.put(CHANNEL, self._pub_key(task.publication.id), id=post_id, url=url, delivery=task.delivery_id,
                        version=task.publication.version)
        return Delivered(url=url, external_id=post_id, detail=detail)

    # -- retract -----------------------------------------------------------------------------

    def _retract(self, task: DeliveryTask) -> DeliveryResult:
        key = self._pub_key(task.publication.id)
        record = self.ledger.get(CHANNEL, key)
        if record.get("deleted"):
            return Delivered(url=record.get("url"), detail="deleted from Weibo")
        if not record.get("id"):
            self.ledger.put(CHANNEL, key, deleted=True)
            return Delivered(detail="nothing was posted on Weibo")
        try:
            self._call("POST", "/2/statuses/destroy.json", idempotent=True, data={"id": record["id"]})
        except WeiboError as err:
            if err.code != NOT_FOUND:
                raise
            log.info("post %s was already gone from Weibo", record["id"])
        self.ledger.put(CHANNEL, key, deleted=True, deleted_at=self.clock().isoformat())
        return Delivered(url=record.get("url"), detail="deleted from Weibo")

    @staticmethod
    def _pub_key(publication_id: str) -> str:
        return f"pub:{publication_id}"[:64]
