"""Weibo rendering: Weibo's own length count, truncation that never breaks a word, a grapheme or a URL."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.common.textfit import ELLIPSIS, URL_RE, atoms, code_points, fit
from adapters.weibo.render import MAX_CHARS, compose, render_weibo, units, weibo_length
from govcast.samples import sample_policy
from settings import Settings
from tests.portal_support import build_publication

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
PIECES = st.one_of(
    st.text(CJK, min_size=1, max_size=12),
    st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), min_size=1, max_size=10),
    st.sampled_from([" ", "，", "。", "、", "《", "》", "（", "）", "!", "?", ",", ".", "-", "…", "\n", "\u3000"]),
    st.sampled_from(["👍", "👍🏽", "👨‍👩‍👧", "🇨🇳", "é", "e\u0301", "☺\ufe0f", "\U00020000", "𠀀"]),
    st.builds(lambda host, path: f"https://{host}/{path}", st.sampled_from(["www.jinan.gov.cn", "t.cn", "weibo.com", "a.b"]),
              st.text(st.sampled_from("abcxyz0123/_-.?=&%"), max_size=160)),
)
MIXED = st.lists(PIECES, max_size=60).map("".join)
CHINESE = st.text(CJK, max_size=400)


def test_weibo_counts_like_weibo() -> None:
    # vectors of WeCase's Sina-compatible counter (github.com/WeCase/WeCase src/TweetUtils.py)
    assert weibo_length("我司CEO与我司吉祥物...好大一坨！") == 16
    assert weibo_length("Test") == 2
    assert weibo_length("中文") == 2 and weibo_length("ab") == 1 and weibo_length("a") == 1
    long_url = "http://www.jinan.gov.cn/" + "x" * 100
    assert weibo_length(long_url) == 10  # any link up to 140 bytes counts 10 characters
    assert weibo_length("http://www.jinan.gov.cn/" + "x" * 200) == 10 + (224 - 140 + 1) // 2
    assert weibo_length("http://weibo.com/abc") == 10  # a short weibo.com link counts itself (20 bytes)


def is_atom_prefix(prefix: str, text: str) -> bool:
    joined = ""
    if prefix == "":
        return True
    for piece in atoms(text):
        joined += piece
        if joined.rstrip(" \t\r\n\u3000，、；：,;:") == prefix or joined == prefix:
            return True
        if len(joined) > len(prefix):
            return False
    return False


def urls_whole(prefix: str, text: str) -> bool:
    return all(m.end() <= len(prefix) or m.start() >= len(prefix) for m in URL_RE.finditer(text))


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(MIXED, CHINESE), limit=st.integers(min_value=0, max_value=300))
@example(text="统计数据2025年" * 30, limit=40)
def test_fit_respects_the_limit_and_cuts_only_between_atoms(text: str, limit: int) -> None:
    for cost, budget in ((code_points, limit), (units, limit)):
        fitted = fit(text, budget, cost)
        assert sum(cost(a) for a in atoms(fitted)) <= budget or fitted == ""
        if cost(text) <= budget and fitted == text:
            continue
        assert fitted == "" or fitted.endswith(ELLIPSIS)
        prefix = fitted[: -len(ELLIPSIS)] if fitted else ""
        assert text.startswith(prefix)
        assert is_atom_prefix(prefix, text), (prefix, text)
        assert urls_whole(prefix, text)
        assert not prefix or not ("\ud800" <= prefix[-1] <= "\udbff")  # never half a surrogate pair


@settings(max_examples=300, deadline=None)
@given(title=st.one_of(MIXED, CHINESE).filter(str.strip), lead=st.one_of(MIXED, CHINESE),
       path=st.text(st.sampled_from("abc123/_-"), max_size=60))
def test_a_post_is_at_most_140_and_ends_with_the_whole_portal_url(title: str, lead: str, path: str) -> None:
    url = f"http://127.0.0.1:8000/portal/zcwj/{path}pub.html"
    post = compose(title, lead, url)
    assert weibo_length(post) <= MAX_CHARS
    assert post.endswith(" " + url)
    assert post.startswith("【")


def test_rendition_for_a_sample_policy() -> None:
    pub = build_publication("pub_weibo0001", sample_policy(summary="长" * 300))
    rendition = render_weibo(pub, Settings(public_url="https://gov.example.cn"))
    assert rendition["url"] == "https://gov.example.cn/portal/zcwj/pub_weibo0001.html"
    assert rendition["status"].endswith(rendition["url"]) and weibo_length(rendition["status"]) <= 140
    assert ELLIPSIS in rendition["status"] and rendition["length"] == weibo_length(rendition["status"])


def test_unknown_category_links_to_the_other_column() -> None:
    pub = build_publication("pub_weibo0002", sample_policy(category="不在目录里的分类"))
    assert render_weibo(pub, Settings(public_url="https://gov.example.cn"))["url"].endswith("/portal/other/pub_weibo0002.html")


def test_a_post_carries_topics_from_the_keywords_and_the_short_title() -> None:
    pub = build_publication("pub_weibo0003", sample_policy(summary="长" * 300, short_title="2025年政务公开工作要点",
                                                           keywords=["政务公开", "工作 要点", "济南", "#坏#"]))
    status = render_weibo(pub, Settings(public_url="https://gov.example.cn"))["status"]
    assert status.startswith("【2025年政务公开工作要点】") and weibo_length(status) <= 140
    assert status.endswith(" #政务公开# #工作要点# https://gov.example.cn/portal/zcwj/pub_weibo0003.html")
