"""Pictures for the cover and body-image tests, drawn with Pillow (no binary fixtures in the repository)."""

from __future__ import annotations

import base64
import io
import random

from PIL import Image, ImageDraw


def picture(size: tuple[int, int] = (1200, 511), fmt: str = "PNG", *, seed: int = 7, noisy: bool = True) -> bytes:
    """A photo-like picture (gradient, shapes and grain, so JPEG cannot squeeze it to nothing) in `fmt`."""
    width, height = size
    image = Image.new("RGB", size, (30, 90, 160))
    draw = ImageDraw.Draw(image)
    rng = random.Random(seed)
    for y in range(0, height, 4):
        draw.rectangle((0, y, width, y + 4), fill=(30 + y * 150 // height, 90, 160 - y * 100 // height))
    for _ in range(40):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(10, 80)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    if noisy:
        pixels = image.load()
        assert pixels is not None
        for _ in range(width * height // 6):
            x, y = rng.randrange(width), rng.randrange(height)
            pixels[x, y] = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def cover_b64(size: tuple[int, int] = (1200, 511), fmt: str = "PNG") -> str:
    return base64.b64encode(picture(size, fmt)).decode()
