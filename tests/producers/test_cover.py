"""A department's own cover: checked on submission with a problem naming body.cover, kept as WeChat's thumb JPEG."""

from __future__ import annotations

import base64
import io
import os

import pytest
from PIL import Image

from govcast.samples import sample_policy
from tests.adapters.cover_support import cover_b64, picture


def bomb() -> str:
    """A small PNG declaring 30 million pixels (1 bit each): refused before it is decoded."""
    buffer = io.BytesIO()
    Image.new("1", (9400, 4000)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


# (case, cover data, words the 422 must contain)
BAD_COVERS = [
    ("not base64", "这不是图片", "base64"),
    ("a GIF", base64.b64encode(picture((900, 383), "GIF", noisy=False)).decode(), "JPEG or PNG"),
    ("not an image", base64.b64encode(b"%PDF-1.7 " * 100).decode(), "not a readable image"),
    ("a cut-off JPEG", base64.b64encode(picture((900, 383), "JPEG")[:5000]).decode(), "not a readable image"),
    ("too small", cover_b64((600, 255)), "at least 900×383"),
    ("square", cover_b64((900, 900)), "2.35:1"),
    ("a decompression bomb", bomb(), "million pixels"),
    ("over 1 MB", base64.b64encode(b"\xff\xd8\xff" + os.urandom(1_100_000)).decode(), "at most 1024 KB"),
]


@pytest.mark.parametrize(("data", "words"), [c[1:] for c in BAD_COVERS], ids=[c[0] for c in BAD_COVERS])
def test_a_cover_that_cannot_be_one_is_refused_naming_why(client, dept, bus, problem, data, words):
    body = problem(client.post("/v1/publications", json=sample_policy(cover={"data": data}), headers=dept), 422, "body.cover")
    assert any(words in e["message"] for e in body["errors"] if e["field"] == "body.cover"), body
    assert bus.events() == []


def test_a_png_cover_is_kept_as_a_900_by_383_jpeg_within_64_kb(client, dept):
    answer = client.post("/v1/publications", json=sample_policy(cover={"data": cover_b64((1200, 511), "PNG")}), headers=dept)
    assert answer.status_code == 202, answer.text
    kept = client.get(f"/v1/publications/{answer.json()['id']}", headers=dept).json()["cover"]
    jpeg = base64.b64decode(kept["data"])
    assert len(jpeg) <= 64 * 1024 and len(kept["sha256"]) == 64
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.format == "JPEG" and image.size == (900, 383)


def test_short_title_takes_64_characters_as_wechat_counts_and_no_more(client, dept, problem):
    ok = client.post("/v1/publications", json=sample_policy(short_title="政" * 64), headers=dept)
    assert ok.status_code == 202, ok.text
    problem(client.post("/v1/publications", json=sample_policy(short_title="政" * 65), headers=dept), 422, "body.short_title")
