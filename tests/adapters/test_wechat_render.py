"""WeChat rendering: field limits, WeChat-safe HTML, the portal link, the source line, the cover JPG."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from adapters.wechat.render import AUTHOR_MAX, CONTENT_MAX, COVER_MAX_BYTES, DIGEST_MAX, TITLE_MAX, render_wechat
from govcast.samples import sample_policy
from settings import Settings
from tests.portal_support import build_publication

SETTINGS = Settings(public_url="https://gov.example.cn")
CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
TEXT = st.lists(st.one_of(st.text(CJK, min_size=1, max_size=20), st.sampled_from(["COVID-19", "2025", " ", "👍🏽", "，"])),
                min_size=1, max_size=40).map("".join).filter(str.strip)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def test_article_fields_link_the_portal_and_name_the_publisher() -> None:
    pub = build_publication("pub_wx000001", sample_policy())
    article = render_wechat(pub, SETTINGS)
    assert article["content_source_url"] == "https://gov.example.cn/portal/zcwj/pub_wx000001.html"
    assert f"来源：{pub.publisher}" in article["content"]
    assert article["content_source_url"] in article["content"]
    assert len(article["title"]) <= TITLE_MAX and len(article["author"]) <= AUTHOR_MAX
    assert article["digest"] == pub.summary[:DIGEST_MAX] or article["digest"].endswith("…")
    assert pub.index_no_text in article["content"]


def test_hostile_and_external_content_is_made_wechat_safe() -> None:
    body = ('<p>正文<script>alert("x")</script></p><img src="https://evil.example/a.png" onerror="alert(1)">'
            '<a href="https://other.example/">外链</a><p onclick="steal()" style="position:fixed">段落</p>'
            '<table><tr><td colspan="2">单元格</td></tr></table>')
    article = render_wechat(build_publication("pub_wx000002", sample_policy(body=body)), SETTINGS)
    html = article["content"]
    assert "<script" not in html.lower() and "alert" not in html and "javascript:" not in html.lower()
    found = tags(html)
    assert not [t for t, _ in found if t in ("img", "a", "script", "style", "iframe")]
    for tag, attrs in found:
        assert set(attrs) <= {"style", "colspan", "rowspan"}, (tag, attrs)
        assert "position" not in (attrs.get("style") or "")
    assert all(attrs.get("style") for tag, attrs in found if tag in ("p", "td", "table"))  # inline styles
    assert "〔图片请见原文〕" in html and "外链" in html and "段落" in html and 'colspan="2"' in html


def test_a_very_long_body_is_cut_at_a_block_and_points_to_the_original() -> None:
    body = "".join(f"<p>第{i}段。" + "政务公开" * 100 + "</p>" for i in range(200))
    article = render_wechat(build_publication("pub_wx000003", sample_policy(body=body)), SETTINGS)
    assert len(article["content"]) < CONTENT_MAX
    assert "阅读原文" in article["content"]
    assert article["content"].count("<p") == article["content"].count("</p>")


def test_cover_is_a_generated_jpeg_within_64_kb() -> None:
    article = render_wechat(build_publication("pub_wx000004", sample_policy()), SETTINGS)
    data = base64.b64decode(article["cover_jpeg"])
    assert data[:2] == b"\xff\xd8" and len(data) <= COVER_MAX_BYTES
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (900, 383)
    assert article["cover_source"] == "generated"


@settings(max_examples=60, deadline=None)
@given(title=TEXT, summary=TEXT, publisher=TEXT)
def test_limits_hold_for_any_chinese_or_mixed_text(title: str, summary: str, publisher: str) -> None:
    payload = sample_policy(title=title[:200], summary=summary[:500], publisher=publisher[:100])
    article = render_wechat(build_publication("pub_wx000005", payload), SETTINGS)
    assert len(article["title"]) <= TITLE_MAX
    assert len(article["author"]) <= AUTHOR_MAX
    assert len(article["digest"]) <= DIGEST_MAX
    assert len(article["content"]) < CONTENT_MAX
    for field, limit in (("title", TITLE_MAX), ("digest", DIGEST_MAX)):
        if len(" ".join(payload[field if field == "title" else "summary"].split())) > limit:
            assert article[field].endswith("…")


def test_the_title_is_never_cut_where_a_short_name_exists() -> None:
    """The official title (33 characters) does not fit WeChat's 32: the department's short_title goes, else the
    document's own name, whole -- not "济南市人民政府办公厅关于印发2025年济南市政务公开工作要点的…"."""
    derived = render_wechat(build_publication("pub_wx000101", sample_policy()), SETTINGS)
    assert derived["title"] == "2025年济南市政务公开工作要点"
    given = render_wechat(build_publication("pub_wx000102", sample_policy(short_title="一图读懂2025年政务公开工作要点")), SETTINGS)
    assert given["title"] == "一图读懂2025年政务公开工作要点"
    fits = render_wechat(build_publication("pub_wx000103", sample_policy(title="关于做好2025年春节假期安排的通知")), SETTINGS)
    assert fits["title"] == "关于做好2025年春节假期安排的通知"  # the official title when it fits
