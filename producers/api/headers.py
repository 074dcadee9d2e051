"""Security headers on every answer of the app (API, portal, sandboxes): nosniff, referrer policy, no framing,
and a Content-Security-Policy for HTML.

The CSP allows scripts and styles from the app's own origin only. The portal's pages inline one
stylesheet and one script (they are static files, also served by other web servers); those are
allowed by their SHA-256, computed from the same templates the pages are rendered from. FastAPI's
/docs and /redoc pages load Swagger UI / ReDoc from their CDN and get a policy that allows that.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COMMON = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "DENY",
}
_BASE = "default-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
STRICT_CSP = f"{_BASE}; img-src 'self' data: https:"
DOCS_CSP = (f"{_BASE}; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
            "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https:; worker-src 'self' blob:")
# The sandboxes show platform previews (WeChat articles carry inline styles, as WeChat requires): styles only.
SANDBOX_CSP = f"{STRICT_CSP}; style-src 'self' 'unsafe-inline'"
_DOCS_PATH = re.compile(r"(^/docs|^/redoc|/_docs)(/|$)")
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.S)


def csp_hash(content: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(content.encode()).digest()).decode() + "'"


@functools.cache
def portal_csp() -> str:
    """The portal's policy: its inline stylesheet and script allowed by hash, nothing else inline."""
    from adapters.portal.render import environment

    shell = environment().from_string('<style>\n{% include "site.css" %}\n</style>\n'
                                      '<script>\n{% include "a11y.js" %}\n</script>\n').render()
    hashes = {kind: csp_hash(body) for kind, body in _INLINE.findall(shell)}
    return f"{STRICT_CSP}; style-src 'self' {hashes['style']}; script-src 'self' {hashes['script']}"


def inline_blocks(html: str) -> list[tuple[str, str]]:
    """(kind, content) of the inline <script>/<style> blocks of a page (tests check them against the policy)."""
    return _INLINE.findall(html)


def csp_for(path: str) -> str:
    if _DOCS_PATH.search(path):
        return DOCS_CSP
    if path.startswith("/portal"):
        return portal_csp()
    if path.startswith("/sandbox/"):
        return SANDBOX_CSP
    return STRICT_CSP


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON.items():
                    headers.setdefault(name, value)
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("content-security-policy", csp_for(scope["path"]))
            await send(message)

        await self.app(scope, receive, with_headers)
