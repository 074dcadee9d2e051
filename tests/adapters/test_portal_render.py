"""Portal renderer: escaping, page structure for accessibility, valid Atom and sitemap."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from jinja2 import UndefinedError

from adapters.common.views import ArticleView, PortalEntry, SiteView, Tombstone, paginate
from adapters.portal.render import (
    environment,
    home_sections,
    render_article,
    render_column,
    render_feed,
    render_home,
    render_list_page,
    render_sitemap,
    render_withdrawn,
)
from govcast.samples import sample_policy
from schemas import Publication
from tests.portal_support import build_publication, header_table, meta_tags, parse_html

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
TEMPLATES = Path(__file__).resolve().parents[2] / "adapters/portal/templates"


def site(**changes: object) -> SiteView:
    facts = {"domain": "www.jinan.gov.cn", "id_code": "3701000001", "sponsor": "济南市人民政府办公厅",
             "phone": "0531-12345", "icp": "鲁ICP备00000000号", **changes}
    return SiteView.build(name="济南市人民政府", base_url="https://www.jinan.gov.cn/portal/",
                          categories={"政策文件": "zcwj", "文字解读": "wzjd"}, **facts)  # type: ignore[arg-type]


def article(pub: Publication, s: SiteView) -> str:
    return render_article(ArticleView(pub, s.url(f"zcwj/{pub.id}.html"), s.column("zcwj")), s)


def entry(pub: Publication, s: SiteView) -> PortalEntry:
    return PortalEntry.of(pub, column="zcwj", path=f"zcwj/{pub.id}.html", url=s.url(f"zcwj/{pub.id}.html"))


def entries(count: int, s: SiteView) -> list[PortalEntry]:
    """`count` entries, newest first."""
    made = [entry(build_publication(f"p{n}", seq=n + 1, minutes=n), s) for n in range(count)]
    return sorted(made, key=lambda e: e.sort_key, reverse=True)


def all_pages(s: SiteView) -> dict[str, str]:
    pub = build_publication("p1")
    tomb = Tombstone(id="p2", version=1, title="撤回的通知", index_no="11370100004188591X/2025-00002", path="zcwj/p2.html",
                     url=s.url("zcwj/p2.html"), column="zcwj", reason="误发", withdrawn_at=dt.datetime(2025, 3, 9, tzinfo=dt.UTC))
    listed = entries(3, s)
    return {
        "article": article(pub, s),
        "list": render_list_page(paginate(s.column("zcwj"), listed, 2, s)[0], s),
        "home": render_home(home_sections(listed, s), s),
        "withdrawn": render_withdrawn(tomb, s),
    }


# -- environment -------------------------------------------------------------------------------

def test_environment_escapes_every_template_kind_and_refuses_undefined_names() -> None:
    env = environment()
    assert env is environment()  # built once
    for name in ("portal/article.html", "portal/feed.xml", "x.atom"):
        assert env.autoescape(name) is True  # type: ignore[operator]
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    with pytest.raises(UndefinedError):
        env.from_string("{{ missing }}").render()
    # the sanitized body is the only value marked safe in any template
    uses = {p.name: p.read_text().count("|safe") for p in TEMPLATES.iterdir()}
    assert {name: n for name, n in uses.items() if n} == {"article.html": 1}


def test_markup_in_any_field_but_the_body_is_shown_as_text() -> None:
    s = site(sponsor='<script>alert("s")</script>')
    pub = build_publication("p1", sample_policy(
        title='"><script>alert(1)</script>', publisher='<img src=x onerror=alert(2)>', keywords=['"><b>k</b>'],
        summary="</title><script>alert(3)</script>"))
    doc = parse_html(article(pub, s))

    assert [len(list(doc.find("head").iter("script"))), len(doc.find("body").find_all("script"))] == [1, 0]
    assert not list(doc.iter("img"))
    assert doc.find("h1").text == pub.title
    assert meta_tags(doc)["ArticleTitle"] == pub.title
    assert meta_tags(doc)["Keywords"] == '"><b>k</b>'
    assert header_table(doc)["发布机构"] == pub.publisher
    assert '主办单位：<script>alert("s")</script>' in doc.find("footer").text
    body = doc.find("div", class_="article-body")
    assert [h.text for h in body.iter("h2")][:1] == ["一、做实重点领域主动公开"]  # the sanitized body keeps its markup


# -- accessibility and 适老化 ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["article", "list", "home", "withdrawn"])
def test_every_page_is_accessible_without_javascript(kind: str) -> None:
    s = site()
    doc = parse_html(all_pages(s)[kind])
    html = doc.find("html")
    assert html.attrs["lang"] == "zh-CN"
    skip = doc.find("body").find("a")  # the first link of the page
    assert (skip.attrs["href"], skip.text) == ("#main", "跳到主要内容")
    assert doc.find("main").attrs["id"] == "main"
    for landmark in ("header", "nav", "main", "footer"):
        assert doc.find_all(landmark), landmark
    assert len(list(doc.iter("h1"))) == 1
    for th in doc.iter("th"):
        assert th.attrs.get("scope") == "row"
    style = doc.find("style").text
    assert ":focus-visible" in style and "line-height: 1.8" in style
    toggles = [b for b in doc.iter("button") if "data-mode" in b.attrs]
    assert [b.attrs["data-mode"] for b in toggles] == ["a11y-large", "a11y-contrast"]
    assert all("hidden" in b.attrs and b.attrs["aria-pressed"] == "false" for b in toggles)  # shown by JS only
    for node in doc.iter():  # nothing loaded from elsewhere
        assert "src" not in node.attrs or node.tag == "img"
        assert not (node.tag == "link" and node.attrs.get("rel") == "stylesheet")
    feed = doc.find("link", rel="alternate")
    assert feed.attrs == {"rel": "alternate", "type": "application/atom+xml", "title": "济南市人民政府",
                          "href": "https://www.jinan.gov.cn/portal/feed.xml"}
    footer = doc.find("footer")
    assert ("https://www.jinan.gov.cn/portal/sitemap.html", "网站地图") in footer.links()
    assert "网站标识码：3701000001" in footer.text


def test_sandbox_sites_say_so_and_stay_out_of_search_engines() -> None:
    real, demo = parse_html(all_pages(site())["list"]), parse_html(all_pages(site(sandbox=True))["list"])
    assert not real.find_all("p", class_="sandbox-banner") and "robots" not in meta_tags(real)
    assert "演示环境" in demo.find("p", class_="sandbox-banner").text
    assert meta_tags(demo)["robots"] == "noindex"


@pytest.mark.parametrize(("validity", "notice"), [("失效", "本文件已失效"), ("废止", "本文件已废止")])
def test_lost_validity_is_announced_above_the_header(validity: str, notice: str) -> None:
    doc = parse_html(article(build_publication("p1", sample_policy(validity=validity)), site()))
    art = doc.find("article")
    first = next(child for child in art.children if not isinstance(child, str))
    assert first.attrs["class"] == "validity-notice" and notice in first.text
    assert header_table(doc)["有效性"] == validity


SUBSCRIBE = "https://www.jinan.gov.cn/subscribe"


@pytest.mark.parametrize("kind", ["article", "list", "home", "withdrawn"])
def test_every_page_leads_businesses_to_the_subscription_center(kind: str) -> None:
    doc = parse_html(all_pages(site(subscribe_url=SUBSCRIBE))[kind])
    assert doc.find("nav", class_="service-links").links() == [(SUBSCRIBE, "订阅惠企政策")]  # in the header, by the name
    assert (SUBSCRIBE, "订阅惠企政策推送") in doc.find("footer").links()
    bare = parse_html(all_pages(site())[kind])
    assert all(SUBSCRIBE not in href and "订阅惠企" not in text for href, text in bare.links()), "no link without a center"


@pytest.mark.parametrize(("changes", "invited"), [
    ({}, True), ({"kind": "interpretation", "related": [{"id": "pub_x", "relation": "interprets"}]}, True),
    ({"validity": "已修改"}, True), ({"kind": "notice"}, False), ({"validity": "废止"}, False)])
def test_policy_pages_invite_businesses_to_subscribe(changes: dict[str, object], invited: bool) -> None:
    """A policy in force (also amended), or its interpretation, says what the push does and links the sign-up;
    notices and repealed policies do not (nothing new to expect from them)."""
    doc = parse_html(article(build_publication("p1", sample_policy(**changes)), site(subscribe_url=SUBSCRIBE)))
    asides = doc.find_all("aside", class_="subscribe-callout")
    assert bool(asides) is invited
    if invited:
        assert asides[0].links() == [(SUBSCRIBE, "订阅惠企政策推送")] and "推送给您" in asides[0].text


# -- lists -------------------------------------------------------------------------------------

def test_pages_split_a_column_without_overlap_anchored_at_the_oldest() -> None:
    s = site()
    listed = entries(7, s)
    rendered = render_column(s.column("zcwj"), listed, 2, s)
    assert list(rendered) == ["zcwj/index.html", "zcwj/index_2.html", "zcwj/index_1.html"]
    shown = [[href for href, _ in parse_html(text).find("ul", class_="item-list").links()] for text in rendered.values()]
    assert shown == [[e.url for e in listed[0:3]], [e.url for e in listed[3:5]], [e.url for e in listed[5:]]]
    assert render_column(s.column("wzjd"), [], 2, s).keys() == {"wzjd/index.html"}
    assert "本栏目暂无信息" in render_column(s.column("wzjd"), [], 2, s)["wzjd/index.html"]


def test_long_columns_link_newest_pages_and_the_oldest_from_the_front_page() -> None:
    s = site()
    pages = paginate(s.column("zcwj"), entries(40, s), 2, s)
    front, newest_archive, oldest = pages[0], pages[1], pages[-1]
    assert (front.number, newest_archive.number, oldest.number) == (0, 19, 1)
    assert front.window == [19, 18, 17, 1]
    assert (front.newer_url, front.older_url) == (None, "https://www.jinan.gov.cn/portal/zcwj/index_19.html")
    assert newest_archive.newer_url == "https://www.jinan.gov.cn/portal/zcwj/index.html"
    assert (oldest.older_url, oldest.oldest_url) == (None, None)
    assert pages[5].newer_url == "https://www.jinan.gov.cn/portal/zcwj/index_16.html"


# -- feed and sitemap --------------------------------------------------------------------------

def test_feed_is_atom_with_the_latest_fifty_entries() -> None:
    s = site()
    listed = entries(60, s)
    feed = ET.fromstring(render_feed(listed, s))
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id") == "https://www.jinan.gov.cn/portal/index.html"
    assert feed.findtext(f"{ATOM}updated") == "2025-03-05T01:59:00Z"  # the newest revision, not the clock
    got = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}id") for e in got] == [e.url for e in listed[:50]]
    for item in got:
        for name in ("id", "title", "updated", "summary", "author"):
            assert item.find(f"{ATOM}{name}") is not None, name
        assert item.find(f"{ATOM}link[@rel='alternate']") is not None


def test_feed_survives_control_characters_in_titles() -> None:
    s = site()
    # Submissions refuse control characters now (schemas.publication); the renderer must still cope with a
    # stored title that has them (data from before that check), so the title is set without validation.
    pub = build_publication("p1", sample_policy()).model_copy(update={"title": "通知\x0b（第\x02号）"})
    feed = ET.fromstring(render_feed([entry(pub, s)], s))
    assert feed.findtext(f"{ATOM}entry/{ATOM}title") == "通知（第号）"


def test_sitemap_lists_home_columns_and_articles_with_absolute_urls() -> None:
    s = site()
    listed = entries(2, s)
    urlset = ET.fromstring(render_sitemap(listed, s))
    assert urlset.tag == f"{SITEMAP}urlset"
    locs = [u.findtext(f"{SITEMAP}loc") for u in urlset.findall(f"{SITEMAP}url")]
    assert locs == ["https://www.jinan.gov.cn/portal/index.html", "https://www.jinan.gov.cn/portal/zcwj/index.html",
                    "https://www.jinan.gov.cn/portal/wzjd/index.html", "https://www.jinan.gov.cn/portal/other/index.html",
                    *(e.url for e in listed)]
