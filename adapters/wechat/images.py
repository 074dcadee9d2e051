"""Body images of a WeChat article: fetched from where the department put them, uploaded with `media/uploadimg`.

uploadimg takes a JPG or PNG under 1 MB (shared/channels.md) and answers the URL the article may
show (WeChat strips any other image URL). An image that is neither, or larger, is converted to a
JPEG no wider than 1080 pixels at the best quality that fits; one that does not decode as an image
at all, or is refused, stays in the article as the note 〔图片请见原文〕 (readers find it on the portal
page behind 阅读原文) and the delivery's detail says which and why.

The addresses are the department's, so fetching them is guarded like webhooks are
(adapters.egress): no loopback, private, link-local or reserved addresses — except the networks
allowed by GOVCAST_WECHAT_IMAGE_ALLOWED_NETWORKS and this installation's own public origin (the
portal where departments' images usually live) — no credentials in URLs, redirects checked hop by
hop, at most 10 MB read. A network failure is retried on the delivery's first attempts, then the
image becomes the note: one unreachable server must not keep the article off WeChat.

What was uploaded is kept in the delivery's ledger facts (`images`: original URL → WeChat URL, ""
for an image left as the note), so a retry uploads nothing twice.
"""

from __future__ import annotations

import html
import io
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests

from adapters.egress import Network, url_problem
from adapters.transport import TransportError
from adapters.wechat.api import WechatApi, WechatError
from adapters.wechat.body import IMAGE_NOTE, image_pattern, image_tag
from persistence.ledger import Ledger

log = logging.getLogger("govcast.adapters.wechat")

UPLOAD_MAX = 1024 * 1024  # uploadimg: "less than 1 MB"
DOWNLOAD_MAX = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a small file may declare a huge picture (a decompression bomb): refused before decoding
MAX_WIDTH = 1080  # what a phone shows; larger images are scaled down when they must be re-encoded
REFUSED_BY_WECHAT = {40005: "invalid file type", 40009: "invalid image size"}  # uploadimg's answers about one image
REDIRECTS = 3
NETWORK_ATTEMPTS = 2  # delivery attempts that wait for an unreachable image server before leaving the note
_UPLOADABLE = {"JPEG": ("image.jpg", "image/jpeg"), "PNG": ("image.png", "image/png")}
_NOTE_TAG = f'<span style="color:#888;">{IMAGE_NOTE}</span>'


class ImageRefused(Exception):
    """This image cannot go into the article; the reason names it for the timeline."""


@dataclass(frozen=True)
class Fetcher:
    """Reads an image from a department's address, with the egress guard."""

    allowed: Sequence[Network]
    own_origin: str  # scheme://host[:port] of this installation: always reachable
    timeout: float

    def get(self, url: str) -> bytes:
        current = url
        for _ in range(REDIRECTS + 1):
            if _origin(current) != self.own_origin:
                why = url_problem(current, self.allowed)
                if why:
                    raise ImageRefused(f"image {url}: address refused ({why})")
            try:
                response = requests.get(current, timeout=self.timeout, stream=True, allow_redirects=False,
                                        headers={"Accept": "image/*"})
            except requests.RequestException as exc:
                raise TransportError(f"image {url}: {type(exc).__name__}") from None
            with response:
                if response.is_redirect and response.headers.get("Location"):
                    current = urljoin(current, response.headers["Location"])
                    continue
                if response.status_code >= 500 or response.status_code == 429:
                    raise TransportError(f"image {url}: HTTP {response.status_code}")
                if response.status_code != 200:
                    raise ImageRefused(f"image {url}: HTTP {response.status_code}")
                return _read_capped(response, url)
        raise ImageRefused(f"image {url}: more than {REDIRECTS} redirects")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _read_capped(response: requests.Response, url: str) -> bytes:
    data = bytearray()
    for chunk in response.iter_content(64 * 1024):
        data += chunk
        if len(data) > DOWNLOAD_MAX:
            raise ImageRefused(f"image {url}: larger than {DOWNLOAD_MAX // (1024 * 1024)} MB")
    return bytes(data)


def uploadable(raw: bytes, url: str) -> tuple[str, bytes, str]:
    """(file name, bytes, media type) uploadimg accepts: the image as it is when it may, else a JPEG that fits."""
    from PIL import Image, ImageOps  # lazily: only WeChat deliveries with images need Pillow

    try:
        with Image.open(io.BytesIO(raw)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ImageRefused(f"image {url}: {image.width}×{image.height} pixels, over {MAX_PIXELS // 1_000_000} million")
            kind = image.format or ""
            if kind in _UPLOADABLE and len(raw) < UPLOAD_MAX:
                name, media_type = _UPLOADABLE[kind]
                return name, raw, media_type
            image.load()
            picture = ImageOps.exif_transpose(image).convert("RGB")
    except ImageRefused:
        raise
    except Exception:  # Pillow's decoders raise many kinds (OSError, SyntaxError, struct.error …)
        raise ImageRefused(f"image {url}: not a readable image") from None
    if picture.width > MAX_WIDTH:
        picture = picture.resize((MAX_WIDTH, round(picture.height * MAX_WIDTH / picture.width)), Image.Resampling.LANCZOS)
    for quality in (85, 75, 65, 50, 35):
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=quality, optimize=True)
        if buffer.tell() < UPLOAD_MAX:
            return "image.jpg", buffer.getvalue(), "image/jpeg"
    raise ImageRefused(f"image {url}: does not fit in 1 MB as a JPEG")


def rewrite(content: str, placed: dict[str, str]) -> str:
    """The article with every uploaded image's URL in place and the others as the note."""
    for original, uploaded in placed.items():
        content = image_pattern(original).sub(_replacement(uploaded), content)
    return content


def _replacement(uploaded: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        return image_tag(uploaded, _alt(match.group())) if uploaded else _NOTE_TAG

    return replace


def _alt(tag: str) -> str:
    start = tag.find(' alt="')
    if start < 0:
        return ""
    end = tag.find('"', start + 6)
    return html.unescape(tag[start + 6:end])


def place_images(api: WechatApi, ledger: Ledger, channel: str, key: str, images: list[str], fetcher: Fetcher,
                 attempt: int) -> tuple[dict[str, str], list[str]]:
    """Upload each image not uploaded yet; (original → WeChat URL or "", why each left out was)."""
    facts = ledger.get(channel, key)
    placed: dict[str, str] = dict(facts.get("images") or {})
    notes: list[str] = list(facts.get("image_notes") or [])
    for url in images:
        if url in placed:
            continue
        try:
            name, data, media_type = uploadable(fetcher.get(url), url)
        except ImageRefused as why:
            placed[url], notes = "", [*notes, str(why)]
        except TransportError as exc:
            if attempt < NETWORK_ATTEMPTS:
                raise
            placed[url], notes = "", [*notes, f"{exc.reason} (left out after {attempt} attempts)"]
        else:
            try:
                answer = api.call("/cgi-bin/media/uploadimg", files={"media": (name, data, media_type)})
            except WechatError as err:
                if err.errcode not in REFUSED_BY_WECHAT:
                    raise  # token, quota, busy: the delivery's own handling (retry later)
                placed[url], notes = "", [*notes, f"image {url}: WeChat refused it ({err.errcode} {REFUSED_BY_WECHAT[err.errcode]})"]
            else:
                placed[url] = str(answer["url"])
        ledger.put(channel, key, images=placed, image_notes=notes)
    return placed, notes
