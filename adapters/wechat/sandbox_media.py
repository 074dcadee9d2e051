"""The WeChat sandbox's media: permanent material (covers) and images inside articles, checked as WeChat checks them.

- `POST /cgi-bin/material/add_material?type=thumb|image` (multipart `media`): thumb is a JPG of at most
  64 KB; image a JPG, PNG, GIF or BMP of at most 10 MB. → `{media_id, url}`.
- `POST /cgi-bin/media/uploadimg` (multipart `media`): a JPG or PNG under 1 MB → `{url}`; only such
  URLs may appear in an article (shared/channels.md).
- draft/add strips every other `<img>` from the content, as WeChat does with external image URLs.

Wrong type: 40005 invalid file type; too large: 40009 invalid image size; no file: 41005.
Stored images are served at /material/<media_id>.<ext> and /mmbiz/<id>.<ext>.
"""

from __future__ import annotations

import re
import secrets
import threading
from typing import Any, Protocol

from fastapi import Request
from fastapi.responses import JSONResponse

from adapters.common.sandbox_kit import answer


class WechatSandbox(Protocol):
    """What of the WeChat sandbox (sandbox.py) its media use: a Protocol, so the two modules import one way only."""

    lock: threading.RLock
    public_base: str
    materials: dict[str, dict[str, Any]]
    images: dict[str, bytes]
    body_images: dict[str, dict[str, Any]]

    def save(self) -> None: ...

THUMB_MAX = 64 * 1024
IMAGE_MAX = 10 * 1024 * 1024
UPLOADIMG_MAX = 1024 * 1024
_SIGNATURES = {b"\xff\xd8\xff": "jpg", b"\x89PNG\r\n\x1a\n": "png", b"GIF87a": "gif", b"GIF89a": "gif", b"BM": "bmp"}
_ACCEPTED = {"thumb": ({"jpg"}, THUMB_MAX), "image": ({"jpg", "png", "gif", "bmp"}, IMAGE_MAX)}
_IMG = re.compile(r"<img\b[^>]*>", re.I)
_SRC = re.compile(r"""\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "bmp": "image/bmp"}


def image_kind(data: bytes) -> str | None:
    """The image format by its first bytes (WeChat looks at the file, not at the name it was sent under)."""
    return next((kind for magic, kind in _SIGNATURES.items() if data.startswith(magic)), None)


async def _media(request: Request) -> bytes | None:
    form = await request.form()
    media = form.get("media")
    if media is None or isinstance(media, str):
        return None
    return await media.read()


def _err(code: int, msg: str) -> JSONResponse:
    return answer({"errcode": code, "errmsg": f"{msg} rid: sandbox-{secrets.token_hex(4)}"})


async def add_material(sandbox: WechatSandbox, request: Request) -> JSONResponse:
    media_type = request.query_params.get("type", "")
    if media_type not in _ACCEPTED:
        return _err(40004, "invalid media type")
    data = await _media(request)
    if data is None:
        return _err(41005, "media data missing")
    kinds, limit = _ACCEPTED[media_type]
    kind = image_kind(data)
    if kind not in kinds:
        return _err(40005, "invalid file type")
    if len(data) > limit:
        return _err(40009, "invalid image size")
    with sandbox.lock:
        media_id = f"sbx_{media_type}_" + secrets.token_hex(12)
        url = f"{sandbox.public_base}/material/{media_id}.{kind}"
        sandbox.materials[media_id] = {"type": media_type, "size": len(data), "url": url}
        sandbox.images[media_id] = data
        sandbox.save()
    return answer({"media_id": media_id, "url": url})


async def uploadimg(sandbox: WechatSandbox, request: Request) -> JSONResponse:
    data = await _media(request)
    if data is None:
        return _err(41005, "media data missing")
    kind = image_kind(data)
    if kind not in ("jpg", "png"):
        return _err(40005, "invalid file type")
    if len(data) >= UPLOADIMG_MAX:
        return _err(40009, "invalid image size")
    with sandbox.lock:
        image_id = secrets.token_hex(12)
        url = f"{sandbox.public_base}/mmbiz/{image_id}.{kind}"
        sandbox.images[image_id] = data
        sandbox.body_images[url] = {"size": len(data), "type": kind}
        sandbox.save()
    return answer({"url": url})


def strip_foreign_images(sandbox: WechatSandbox, content: str) -> tuple[str, list[str]]:
    """The content without images that did not come from uploadimg, and their addresses (for _inspect)."""
    stripped: list[str] = []

    def keep(match: re.Match[str]) -> str:
        found = _SRC.search(match.group())
        src = next((g for g in found.groups() if g is not None), "") if found else ""
        if src.replace("&amp;", "&") in sandbox.body_images:
            return match.group()
        stripped.append(src)
        return ""

    return _IMG.sub(keep, content), stripped


def image_response(sandbox: WechatSandbox, image_id: str) -> tuple[bytes, str] | None:
    """A stored image by the last part of its URL: (bytes, media type)."""
    stem, _, _ = image_id.partition(".")
    data = sandbox.images.get(stem)
    if data is None:
        return None
    return data, MEDIA_TYPES.get(image_kind(data) or "", "application/octet-stream")


def describe(sandbox: WechatSandbox) -> dict[str, Any]:
    return {"body_images": [{"url": url, **meta} for url, meta in sandbox.body_images.items()]}
