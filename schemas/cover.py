"""A department's own cover image: checked on submission, kept in the form the platforms take.

The department sends `cover: {"data": "<base64 of a JPEG or PNG>"}` with the publication. Checked
(each failure a 422 naming `body.cover`): a JPEG or PNG that decodes, at most 1 MB, at least
900 × 383 pixels, shaped like an article cover (2.35:1, WeChat's cover ratio, within 5 %). It is
then kept as the cover WeChat's permanent thumb material accepts (material/add_material
type=thumb: JPG ≤ 64 KB, shared/channels.md): cropped to exactly 2.35:1 around its centre, scaled to
900 × 383 and encoded as JPEG at the best quality that fits. Weibo posts carry the same picture.
Keeping that small form (not the original) keeps every message that carries the publication small.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io

MAX_BYTES = 1024 * 1024  # what a department may send (the request body limit is 2 MB, base64 adds a third)
MIN_SIZE = (900, 383)  # WeChat's recommended article cover (头图) size
RATIO = 900 / 383  # 2.35:1
RATIO_TOLERANCE = 0.05
MAX_PIXELS = 25_000_000  # a small file may declare a huge picture (a decompression bomb): refused before decoding
THUMB_MAX_BYTES = 64 * 1024  # material/add_material type=thumb
_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}


def decode(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("cover data must be base64 (standard alphabet, with padding)") from None


def cover_problem(raw: bytes) -> str | None:
    """Why `raw` cannot be a cover, in words a department can act on; None when it can."""
    from PIL import Image  # imported lazily: only submissions with a cover need Pillow

    if len(raw) > MAX_BYTES:
        return f"the cover is {len(raw) // 1024} KB; at most {MAX_BYTES // 1024} KB"
    try:
        with Image.open(io.BytesIO(raw)) as image:
            kind = image.format or ""
            width, height = image.size
            if width * height > MAX_PIXELS:
                return f"the cover is {width}×{height} pixels; at most {MAX_PIXELS // 1_000_000} million pixels"
            if kind in _FORMATS:
                image.load()  # a truncated or corrupt file fails here, not at the platform
    except Exception:  # Pillow's decoders raise many kinds (OSError, SyntaxError, struct.error …)
        return "the cover is not a readable image; send a JPEG or PNG"
    if kind not in _FORMATS:
        return f"the cover is {kind or 'an unknown format'}; send a JPEG or PNG"
    if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
        return f"the cover is {width}×{height} pixels; at least {MIN_SIZE[0]}×{MIN_SIZE[1]}"
    ratio = width / height
    if abs(ratio / RATIO - 1) > RATIO_TOLERANCE:
        return (f"the cover is {width}×{height} pixels ({ratio:.2f}:1); an article cover is 2.35:1 "
                f"(e.g. {MIN_SIZE[0]}×{MIN_SIZE[1]}), within {RATIO_TOLERANCE:.0%}")
    return None


def thumb_jpeg(raw: bytes) -> bytes:
    """The checked cover as WeChat's thumb material: 900 × 383 JPEG, ≤ 64 KB."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(raw)) as image:
        fitted = ImageOps.fit(image.convert("RGB"), MIN_SIZE, method=Image.Resampling.LANCZOS)
    for quality in (90, 85, 80, 70, 60, 50, 40, 30, 20):
        buffer = io.BytesIO()
        fitted.save(buffer, format="JPEG", quality=quality, optimize=True)
        if buffer.tell() <= THUMB_MAX_BYTES:
            return buffer.getvalue()
    raise ValueError("the cover does not fit in 64 KB as a JPEG even at low quality; send a simpler picture")


def normalized(data: str) -> tuple[str, str]:
    """(base64 of the thumb JPEG, its sha256) for a department's base64 cover; ValueError says what is wrong."""
    raw = decode(data)
    problem = cover_problem(raw)
    if problem:
        raise ValueError(problem)
    jpeg = thumb_jpeg(raw)
    return base64.b64encode(jpeg).decode(), hashlib.sha256(jpeg).hexdigest()
