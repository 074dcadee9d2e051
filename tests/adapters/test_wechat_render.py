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
from tests.adapters.cover_support import cover_b64
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
    assert not [t for t, _ in found if t in ("a", "script", "style", "iframe")]
    for tag, attrs in found:
        assert set(attrs) <= ({"src", "alt", "style"} if tag == "img" else {"style", "colspan", "rowspan"}), (tag, attrs)
        assert "position" not in (attrs.get("style") or "")
    assert all(attrs.get("style") for tag, attrs in found if tag in ("p", "td", "table"))  # inline styles
    assert "外链" in html and "段落" in html and 'colspan="2"' in html
    # the image stays where it was, to be uploaded with uploadimg and its URL rewritten by the adapter
    assert article["images"] == ["https://evil.example/a.png"]
    assert [a["src"] for t, a in found if t == "img"] == ["https://evil.example/a.png"]


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


def test_the_official_title_goes_whole_up_to_64_characters() -> None:
    """WeChat takes 64 characters (the MP editor's limit): the seed policy's official title (33) goes whole, not
    "济南市人民政府办公厅关于印发2025年济南市政务公开工作要点的…"; a department's short_title wins; a title over 64 is
    named by the document's own name, whole."""
    pub = build_publication("pub_wx000101", sample_policy())
    assert render_wechat(pub, SETTINGS)["title"] == pub.title == "济南市人民政府办公厅关于印发2025年济南市政务公开工作要点的通知"
    given = render_wechat(build_publication("pub_wx000102", sample_policy(short_title="一图读懂2025年政务公开工作要点")), SETTINGS)
    assert given["title"] == "一图读懂2025年政务公开工作要点"
    long_title = "济南市人民政府办公厅关于印发" + "济南市进一步优化营商环境" * 4 + "若干措施的通知"
    assert len(long_title) > TITLE_MAX
    named = render_wechat(build_publication("pub_wx000103", sample_policy(title=long_title)), SETTINGS)
    assert named["title"] == "济南市进一步优化营商环境" * 4 + "若干措施"


def test_a_video_link_and_a_video_attachment_are_named_with_their_address() -> None:
    body = ('<p>请观看<a href="https://media.jinan.gov.cn/v/jiedu-2025.mp4">《政务公开工作要点》视频解读</a>。</p>'
            '<p>详见<a href="https://www.jinan.gov.cn/other.html">其他页面</a>。</p>')
    attachments = [{"name": "新闻发布会实录", "url": "https://media.jinan.gov.cn/v/fabuhui.m3u8", "media_type": "application/x-mpegURL"},
                   {"name": "专家访谈", "url": "https://media.jinan.gov.cn/v/fangtan", "media_type": "video/mp4"}]
    article = render_wechat(build_publication("pub_wx000104", sample_policy(body=body, attachments=attachments)), SETTINGS)
    html = article["content"]
    assert "▶ 视频：《政务公开工作要点》视频解读" in html and "https://media.jinan.gov.cn/v/jiedu-2025.mp4" in html
    assert "▶ 视频：专家访谈" in html and "https://media.jinan.gov.cn/v/fangtan" in html  # a video attachment
    assert "其他页面" in html and "https://www.jinan.gov.cn/other.html" not in html  # other links: text only
    assert article["videos"] == ["https://media.jinan.gov.cn/v/jiedu-2025.mp4", "https://media.jinan.gov.cn/v/fangtan"]
    assert not [t for t, _ in tags(html) if t == "a"]


def test_a_department_cover_travels_on_the_publication_not_the_task() -> None:
    pub = build_publication("pub_wx000105", sample_policy(cover={"data": cover_b64()}))
    article = render_wechat(pub, SETTINGS)
    assert article["cover_source"] == "department" and "cover_jpeg" not in article
    assert pub.cover is not None and len(base64.b64decode(pub.cover.data)) <= COVER_MAX_BYTES


def test_a_picture_sent_as_an_attachment_goes_into_the_article_once() -> None:
    """An 一图读懂 sent as a file (not shown in the body) is uploaded and shown like a body image; one the body shows
    is not shown twice."""
    shown = "https://www.jinan.gov.cn/files/shown.png"
    attachments = [{"name": "一图读懂2025年政务公开工作要点", "url": "https://www.jinan.gov.cn/files/yitu.png", "media_type": "image/png"},
                   {"name": "正文配图", "url": shown, "media_type": "image/png"},
                   {"name": "全文.pdf", "url": "https://www.jinan.gov.cn/files/full.pdf", "media_type": "application/pdf"}]
    body = f'<p>正文。</p><p><img src="{shown}" alt="配图"></p>'
    article = render_wechat(build_publication("pub_wx000106", sample_policy(body=body, attachments=attachments)), SETTINGS)
    assert article["images"] == [shown, "https://www.jinan.gov.cn/files/yitu.png"]
    imgs = [a for t, a in tags(article["content"]) if t == "img"]
    assert [a["src"] for a in imgs] == article["images"] and imgs[1]["alt"] == "一图读懂2025年政务公开工作要点"
