"""The portal channel as a citizen (and an inspector) sees it: pages, lists, feed, sitemap, index."""

from __future__ import annotations

import errno
import json
import os
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.portal import PortalAdapter
from govcast.samples import sample_interpretation, sample_policy
from schemas import Action, Delivered, Publication, Rejected, Retryable
from tests.portal_support import build_publication, header_table, meta_tags, parse_html, task_for

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


# -- helpers ------------------------------------------------------------------------------------

def policy(pub_id: str, seq: int, *, minutes: int = 0, version: int = 1, **changes: Any) -> Publication:
    return build_publication(pub_id, sample_policy(**changes), seq=seq, minutes=minutes, version=version)


def interpretation(pub_id: str, of: str, seq: int, *, minutes: int = 0, **changes: Any) -> Publication:
    return build_publication(pub_id, sample_interpretation(of, **changes), seq=seq, minutes=minutes)


def publish(portal: PortalAdapter, pub: Publication) -> str:
    result = portal.deliver(task_for(pub))
    assert isinstance(result, Delivered), result
    assert result.url
    return result.url


def retract(portal: PortalAdapter, pub: Publication, reason: str = "内容有误，已更正后另行发布") -> str:
    withdrawn = pub.model_copy(update={"retracted": True, "retract_reason": reason})
    result = portal.deliver(task_for(withdrawn, Action.retract))
    assert isinstance(result, Delivered), result
    assert result.url
    return result.url


def page(portal: PortalAdapter, url: str):  # type: ignore[no-untyped-def]
    base = portal.config.base_url + "/"
    assert url.startswith(base), url
    return parse_html((portal.config.root / url.removeprefix(base)).read_text())


def listed(portal: PortalAdapter, path: str) -> list[str]:
    """URLs of the items a list page (or home) shows, in order."""
    doc = parse_html((portal.config.root / path).read_text())
    return [href for ul in doc.find_all("ul", class_="item-list") for href, _ in ul.links()]


def local(portal: PortalAdapter, url: str) -> Path:
    return portal.config.root / url.removeprefix(portal.config.base_url + "/")


def index_json(portal: PortalAdapter) -> dict[str, Any]:
    """index.json with the entries of all its parts gathered under "entries", newest first (as a client reads it)."""
    doc: dict[str, Any] = json.loads((portal.config.root / "index.json").read_text())
    entries = [e for part in doc["parts"] for e in json.loads(local(portal, part["url"]).read_text())["entries"]]
    assert [len(json.loads(local(portal, p["url"]).read_text())["entries"]) for p in doc["parts"]] == [
        p["entries"] for p in doc["parts"]]
    return {**doc, "entries": sorted(entries, key=lambda e: (e["publish_date"], e["updated"], e["id"]), reverse=True)}


def feed_links(portal: PortalAdapter) -> list[str]:
    feed = ET.parse(portal.config.root / "feed.xml").getroot()
    return [e.find(f"{ATOM}link").get("href") for e in feed.findall(f"{ATOM}entry")]  # type: ignore[union-attr]


def sitemap_locs(portal: PortalAdapter) -> list[str]:
    """Every URL of the sitemap: sitemap.xml is an index, its parts list the pages."""
    index = ET.parse(portal.config.root / "sitemap.xml").getroot()
    assert index.tag == f"{SITEMAP}sitemapindex"
    locs: list[str] = []
    for part in index.findall(f"{SITEMAP}sitemap"):
        urlset = ET.parse(local(portal, part.findtext(f"{SITEMAP}loc") or "")).getroot()
        locs += [u.findtext(f"{SITEMAP}loc") or "" for u in urlset.findall(f"{SITEMAP}url")]
    return locs


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def relation_links(doc, label: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(href, text) of the links under the 关联 heading `label`; href '' for plain-text lines."""
    section = doc.find("section", class_="relations")
    heading = next(h for h in section.iter("h3") if h.text == label)
    items = section.find("ul", aria_labelledby=heading.attrs["id"]).iter("li")
    return [(li.find_all("a")[0].attrs["href"] if li.find_all("a") else "", li.text) for li in items]


def headings(doc) -> list[str]:  # type: ignore[no-untyped-def]
    section = doc.find_all("section", class_="relations")
    return [h.text for h in section[0].iter("h3")] if section else []


# -- article page ------------------------------------------------------------------------------

def test_article_page_shows_the_disclosure_header_and_government_meta_tags(portal: PortalAdapter) -> None:
    pub = policy("pol-1", 697, keywords=["政务公开", "工作要点"])
    url = publish(portal, pub)

    assert url == "http://portal.test/portal/zcwj/pol-1.html"
    doc = page(portal, url)
    assert header_table(doc) == {
        "索引号": "11370100004188591X/2025-00697", "组配分类": "政策文件", "主题分类": "综合政务\\政务公开",
        "发文机关": "济南市人民政府办公厅（演示）", "发布机构": "济南市人民政府办公厅（演示）", "成文日期": "2025-03-04",
        "发布日期": "2025-03-05", "发文字号": "济政办字〔2025〕8号", "有效性": "有效", "信息名称": pub.title,
        "主题词": "政务公开、工作要点",
    }
    assert [h.text for h in doc.iter("h1")] == [pub.title]
    assert meta_tags(doc) == {
        "viewport": "width=device-width, initial-scale=1",
        "SiteName": "济南市人民政府（测试）", "SiteDomain": "www.jinan.gov.cn", "SiteIDCode": "3701000001",
        "ColumnName": "政策文件", "ColumnType": "政策文件", "ArticleTitle": pub.title, "PubDate": "2025-03-05",
        "ContentSource": pub.publisher, "Keywords": "政务公开,工作要点", "Author": pub.publisher,
        "Description": pub.summary, "Url": url,
    }
    body = doc.find("div", class_="article-body")
    assert next(h.text for h in body.iter("h2")) == "一、做实重点领域主动公开"
    feed = doc.find("link", rel="alternate")
    assert (feed.attrs["type"], feed.attrs["href"]) == ("application/atom+xml", "http://portal.test/portal/feed.xml")
    footer = doc.find("footer")
    for fact in ("主办单位：济南市人民政府办公厅", "联系电话：0531-12345", "网站标识码：3701000001", "鲁ICP备00000000号"):
        assert fact in footer.text
    assert ("http://portal.test/portal/sitemap.html", "网站地图") in footer.links()


def test_footer_carries_the_filing_numbers_and_the_error_report_link(make_portal: Callable[..., PortalAdapter]) -> None:
    portal = make_portal(police_beian="鲁公网安备 37010202000001号", conac_url="https://bszs.conac.cn/sitename?id=1",
                         error_report_url="https://zfwzzc.www.gov.cn/check_web/errorInfo_querySiteId.action")
    footer = page(portal, publish(portal, policy("pol-1", 1))).find("footer")
    assert "公安机关备案号：鲁公网安备 37010202000001号" in footer.text
    links = dict((text, href) for href, text in footer.links())
    assert links["我为政府网站找错"] == "https://zfwzzc.www.gov.cn/check_web/errorInfo_querySiteId.action?siteCode=3701000001"
    assert links["党政机关网站标识"] == "https://bszs.conac.cn/sitename?id=1"
    site_map = parse_html((portal.config.root / "sitemap.html").read_text())
    assert ("http://portal.test/portal/zcwj/index.html", "政策文件") in site_map.find("main").links()


def test_header_names_issuing_organs_normative_number_dates_and_revision_history(portal: PortalAdapter) -> None:
    url = publish(portal, policy("pol-1", 1, issuers=["济南市人民政府", "济南市财政局"], normative=True,
                                 normative_no="JNCR-2025-00101", effective_date="2025-04-01", expiry_date="2027-03-31"))
    header = header_table(page(portal, url))
    assert header["发文机关"] == "济南市人民政府、济南市财政局"
    assert header["发布机构"] == "济南市人民政府办公厅（演示）"
    assert (header["规范性文件"], header["实施日期"], header["有效期至"]) == ("是（登记编号：JNCR-2025-00101）", "2025-04-01",
                                                                  "2027-03-31")
    assert not page(portal, url).find_all("section", class_="revisions")  # one version: no history

    publish(portal, policy("pol-1", 1, version=2, minutes=90, change_note="延长有效期至2028年", issuers=["济南市人民政府"]))
    history = page(portal, url).find("section", class_="revisions")
    rows = [[td.text for td in tr.iter("td")] for tr in history.find("tbody").iter("tr")]
    assert rows == [["第1版", "2025-03-05", "首次发布"], ["第2版", "2025-03-05", "延长有效期至2028年"]]


def test_list_items_show_doc_no_and_an_interpretation_marker(portal: PortalAdapter) -> None:
    pol_url = publish(portal, policy("pol-1", 1))
    assert "[解读]" not in parse_html((portal.config.root / "zcwj/index.html").read_text()).find("ul", class_="item-list").text
    publish(portal, interpretation("int-1", "pol-1", 2, minutes=1))
    item = parse_html((portal.config.root / "zcwj/index.html").read_text()).find("ul", class_="item-list")
    assert "济政办字〔2025〕8号" in item.text
    assert (pol_url + "#relations-heading", "[解读]") in item.links()


def test_attachments_are_listed_with_type_and_size(portal: PortalAdapter) -> None:
    pub = policy("pol-att", 1, attachments=[{"name": "工作要点.pdf", "url": "https://files.example.gov.cn/a.pdf",
                                               "media_type": "application/pdf", "size": 245760}])
    doc = page(portal, publish(portal, pub))
    section = doc.find("section", class_="attachments")
    assert section.links() == [("https://files.example.gov.cn/a.pdf", "工作要点.pdf")]
    assert "application/pdf，240.0 KB" in section.text


def test_unknown_category_is_listed_under_other(portal: PortalAdapter) -> None:
    url = publish(portal, policy("misc-1", 1, category="专项资金"))
    assert url == "http://portal.test/portal/other/misc-1.html"
    assert listed(portal, "other/index.html") == [url]


# -- two-way links -----------------------------------------------------------------------------

@pytest.mark.parametrize("policy_first", [True, False], ids=["policy-first", "interpretation-first"])
def test_policy_and_interpretations_link_both_ways_whatever_the_arrival_order(portal: PortalAdapter,
                                                                             policy_first: bool) -> None:
    pol = policy("pol-1", 1)
    interp1 = interpretation("int-1", "pol-1", 2, minutes=1)
    interp2 = interpretation("int-2", "pol-1", 3, minutes=2, title="图解：2025年政务公开工作要点", category="图片解读")
    order = [pol, interp1, interp2] if policy_first else [interp1, interp2, pol]
    urls = {p.id: publish(portal, p) for p in order}

    policy_page = page(portal, urls["pol-1"])
    assert [href for href, _ in relation_links(policy_page, "关联解读")] == [urls["int-2"], urls["int-1"]]
    for interp in ("int-1", "int-2"):
        assert relation_links(page(portal, urls[interp]), "解读的政策文件") == [
            (urls["pol-1"], f"{pol.title} 索引号：11370100004188591X/2025-00001")]
    entries = {e["id"]: e for e in index_json(portal)["entries"]}
    assert entries["pol-1"]["interpreted_by"] == ["int-2", "int-1"]


def test_reference_by_index_no_resolves_and_an_unpublished_one_is_plain_text(portal: PortalAdapter) -> None:
    interp = build_publication("int-1", sample_interpretation("unused", related=[
        {"index_no": "11370100004188591X/2025-00001", "relation": "interprets"},
        {"index_no": "11370100004188591X/2024-00099", "relation": "related", "title": "2024年政务公开工作要点"},
    ]), seq=2)
    interp_url = publish(portal, interp)
    pending = relation_links(page(portal, interp_url), "解读的政策文件")
    assert pending == [("", "11370100004188591X/2025-00001 （暂未在本站发布）")]

    pol_url = publish(portal, policy("pol-1", 1))  # its 索引号 is …/2025-00001
    doc = page(portal, interp_url)
    assert [href for href, _ in relation_links(doc, "解读的政策文件")] == [pol_url]
    assert relation_links(doc, "关联文件") == [
        ("", "2024年政务公开工作要点 索引号：11370100004188591X/2024-00099 （暂未在本站发布）")]
    assert [href for href, _ in relation_links(page(portal, pol_url), "关联解读")] == [interp_url]


# -- lists, home, feed, sitemap ----------------------------------------------------------------

def test_column_lists_are_anchored_at_the_oldest_page_and_link_newer_older_first_last(
        make_portal: Callable[..., PortalAdapter]) -> None:
    portal = make_portal(page_size=2)
    urls = [publish(portal, policy(f"p{n}", n, publish_date=f"2025-03-1{n}")) for n in range(7)]
    newest_first = urls[::-1]

    # 7 items, 2 a page: archive pages hold full pairs counted from the oldest, the front page the newest 3
    pages = [listed(portal, f"zcwj/{name}") for name in ("index.html", "index_2.html", "index_1.html")]
    assert pages == [newest_first[0:3], newest_first[3:5], newest_first[5:7]]
    assert not (portal.config.root / "zcwj/index_3.html").exists()

    archive = parse_html((portal.config.root / "zcwj/index_2.html").read_text())
    pager = archive.find("nav", aria_label="分页")
    assert dict((text, href) for href, text in pager.links()) == {
        "最新": "http://portal.test/portal/zcwj/index.html", "较新": "http://portal.test/portal/zcwj/index.html",
        "较早": "http://portal.test/portal/zcwj/index_1.html", "最早": "http://portal.test/portal/zcwj/index_1.html"}
    jump = archive.find("form", class_="jump")
    assert (jump.attrs["action"], jump.attrs["method"]) == ("http://portal.test/portal/go", "get")
    front = parse_html((portal.config.root / "zcwj/index.html").read_text()).find("nav", aria_label="分页")
    assert "共 7 条" in front.text
    assert not front.find_all("a", rel="prev")

    retract(portal, policy("p6", 6))
    retract(portal, policy("p5", 5))
    retract(portal, policy("p4", 4))
    assert listed(portal, "zcwj/index.html") == newest_first[3:5]
    assert listed(portal, "zcwj/index_1.html") == newest_first[5:7]
    assert not (portal.config.root / "zcwj/index_2.html").exists()  # a shrunk column serves no stale page


def test_a_new_article_rewrites_no_archive_page(make_portal: Callable[..., PortalAdapter]) -> None:
    portal = make_portal(page_size=2)
    for n in range(9):
        publish(portal, policy(f"p{n}", n + 1, minutes=n))
    archives = {p.name: p.read_bytes() for p in (portal.config.root / "zcwj").glob("index_*.html")}
    assert sorted(archives) == ["index_1.html", "index_2.html", "index_3.html"]

    publish(portal, policy("p9", 10, minutes=9))  # 10 items: page 4 is archived, pages 1-2 stay as they were

    after = {p.name: p.read_bytes() for p in (portal.config.root / "zcwj").glob("index_*.html")}
    assert {name: after[name] for name in ("index_1.html", "index_2.html")} == {
        name: archives[name] for name in ("index_1.html", "index_2.html")}
    assert after["index_3.html"] != archives["index_3.html"]  # its "较新" link now names page 4
    assert "index_4.html" in after


def test_site_wide_pages_are_coalesced_across_a_burst(make_portal: Callable[..., PortalAdapter]) -> None:
    portal = make_portal(refresh_seconds=30)
    urls = [publish(portal, policy(f"p{n}", n + 1, minutes=n)) for n in range(5)]
    assert not (portal.config.root / "feed.xml").exists()  # owed, not yet written
    assert (portal.config.root / "zcwj/p4.html").exists() and listed(portal, "zcwj/index.html") == urls[::-1]
    portal.close()  # a clean shutdown writes what is owed
    assert feed_links(portal) == urls[::-1]
    assert listed(portal, "index.html") == urls[::-1]


def test_a_burst_rewrites_site_wide_pages_a_few_times_not_once_per_delivery(
        make_portal: Callable[..., PortalAdapter], monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    portal = make_portal(refresh_seconds=0.3)
    rewrites: list[int] = []
    site_wide = portal.pages.site_wide
    monkeypatch.setattr(portal.pages, "site_wide", lambda store, dirty: (rewrites.append(1), site_wide(store, dirty)))
    started = time.monotonic()
    urls = [publish(portal, policy(f"p{n:02d}", n + 1, minutes=n)) for n in range(30)]
    elapsed = time.monotonic() - started
    deadline = time.monotonic() + 10
    while (not (portal.config.root / "feed.xml").exists() or feed_links(portal) != urls[::-1]) and time.monotonic() < deadline:
        time.sleep(0.05)  # the refresher's timer, not a delivery, writes them
    assert feed_links(portal) == urls[::-1]
    assert listed(portal, "index.html") == urls[::-1][:8]
    assert 1 <= len(rewrites) <= elapsed / 0.3 + 2  # at most once per interval, however many deliveries
    assert len(rewrites) < 30
    portal.close()


def test_sitemap_is_an_index_of_parts_within_the_protocol_limit(portal: PortalAdapter,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("adapters.portal.pages.PART_SIZE", 2)
    urls = [publish(portal, policy(f"p{n}", n + 1, minutes=n)) for n in range(5)]
    index = ET.parse(portal.config.root / "sitemap.xml").getroot()
    parts = [s.findtext(f"{SITEMAP}loc") for s in index.findall(f"{SITEMAP}sitemap")]
    assert parts == [f"http://portal.test/portal/sitemap-{n}.xml" for n in range(4)]
    assert set(urls) <= set(sitemap_locs(portal))
    retract(portal, policy("p4", 5))
    assert not (portal.config.root / "sitemap-3.xml").exists()
    assert len(sitemap_locs(portal)) == len(set(sitemap_locs(portal)))
    assert urls[4] not in sitemap_locs(portal)


def test_home_shows_latest_items_per_column_and_links_every_column(portal: PortalAdapter) -> None:
    pol_url = publish(portal, policy("pol-1", 1))
    int_url = publish(portal, interpretation("int-1", "pol-1", 2, minutes=1))
    doc = parse_html((portal.config.root / "index.html").read_text())
    sections = {s.find("h2").text: [href for href, _ in s.find("ul", class_="item-list").links()]
                for s in doc.find("main").iter("section") if s.find_all("ul", class_="item-list")}
    assert sections == {"政策文件": [pol_url], "文字解读": [int_url]}
    nav = {href for href, _ in doc.find("nav", aria_label="栏目导航").links()}
    for slug in ("zcwj", "wzjd", "tpjd", "spjd", "ssfa", "tzgg", "gzdt"):
        assert f"http://portal.test/portal/{slug}/index.html" in nav
        assert (portal.config.root / slug / "index.html").exists()
    assert "http://portal.test/portal/other/index.html" not in nav  # 其他 is listed only when it has items
    assert {"http://portal.test/portal/zcwjk/", "http://portal.test/portal/search"} <= nav


def test_a_fresh_portal_has_a_home_page_before_its_first_delivery(portal: PortalAdapter) -> None:
    """`govcast run` prints the portal's address at once: it must answer with the site, not a bare 404."""
    root = portal.config.root
    assert not (root / "index.html").exists()
    portal.ensure_site()
    home = parse_html((root / "index.html").read_text())
    assert "尚未发布信息" in home.find("main").text
    assert {"http://portal.test/portal/zcwjk/", "http://portal.test/portal/search"} <= {
        href for href, _ in home.find("nav", aria_label="栏目导航").links()}
    assert (root / "404.html").exists() and (root / "feed.xml").exists()
    url = publish(portal, policy("pol-1", 1))  # the first delivery replaces the empty home
    portal.ensure_site()  # and a later start leaves the site as it is
    assert url in {href for href, _ in parse_html((root / "index.html").read_text()).find("main").links()}


def test_feed_and_sitemap_list_live_items_and_drop_retracted_ones(portal: PortalAdapter) -> None:
    pubs = [policy(f"p{n}", n, minutes=n) for n in range(3)]
    urls = [publish(portal, p) for p in pubs]

    feed = ET.parse(portal.config.root / "feed.xml").getroot()
    assert feed.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated", "author"):
        assert feed.find(f"{ATOM}{required}") is not None
    assert feed.find(f"{ATOM}link[@rel='self']").get("href") == "http://portal.test/portal/feed.xml"  # type: ignore[union-attr]
    entry = feed.find(f"{ATOM}entry")
    assert entry is not None
    assert [entry.findtext(f"{ATOM}{name}") for name in ("id", "title", "updated")] == [
        urls[2], pubs[2].title, "2025-03-05T01:02:00Z"]
    assert entry.findtext(f"{ATOM}summary") == pubs[2].summary
    assert entry.findtext(f"{ATOM}author/{ATOM}name") == pubs[2].publisher
    assert feed_links(portal) == urls[::-1]
    home = "http://portal.test/portal/index.html"
    assert sitemap_locs(portal)[0] == home
    assert "http://portal.test/portal/zcwj/index.html" in sitemap_locs(portal)
    assert set(urls) <= set(sitemap_locs(portal))

    retract(portal, pubs[1])
    assert feed_links(portal) == [urls[2], urls[0]]
    assert urls[1] not in sitemap_locs(portal)
    assert urls[1] not in listed(portal, "zcwj/index.html") + listed(portal, "index.html")
    assert feed.findtext(f"{ATOM}updated") != ET.parse(portal.config.root / "feed.xml").getroot().findtext(f"{ATOM}updated")


# -- idempotency, versions, revisions ----------------------------------------------------------

def test_redelivery_changes_no_byte_and_duplicates_nothing(portal: PortalAdapter) -> None:
    pol, interp = policy("pol-1", 1), interpretation("int-1", "pol-1", 2, minutes=1)
    publish(portal, pol)
    publish(portal, interp)
    before = snapshot(portal.config.root)
    for pub in (interp, pol, interp):
        publish(portal, pub)
    retract(portal, interp)
    after_retract = snapshot(portal.config.root)
    retract(portal, interp)

    assert snapshot(portal.config.root) == after_retract
    assert before != after_retract
    publish(portal, pol)
    assert snapshot(portal.config.root) == after_retract
    assert [e["id"] for e in index_json(portal)["entries"]] == ["pol-1"]
    assert [t["id"] for t in index_json(portal)["withdrawn"]] == ["int-1"]
    assert feed_links(portal) == [pol_url := "http://portal.test/portal/zcwj/pol-1.html"]
    assert listed(portal, "zcwj/index.html") == [pol_url]


def test_an_older_version_never_overwrites_a_newer_one(portal: PortalAdapter) -> None:
    v2 = policy("pol-1", 1, version=2, minutes=5, title="关于印发2025年政务公开工作要点的通知（修订）")
    url = publish(portal, v2)
    before = snapshot(portal.config.root)

    result = portal.deliver(task_for(policy("pol-1", 1, version=1)))

    assert isinstance(result, Delivered) and result.url == url
    assert snapshot(portal.config.root) == before
    assert page(portal, url).find("h1").text == v2.title
    assert index_json(portal)["entries"][0]["version"] == 2


def test_revision_rerenders_page_and_lists_and_shows_lost_validity_prominently(portal: PortalAdapter) -> None:
    url = publish(portal, policy("pol-1", 1))
    interp_url = publish(portal, interpretation("int-1", "pol-1", 2, minutes=1))
    assert not page(portal, url).find_all("p", class_="validity-notice")

    revised = policy("pol-1", 1, version=2, minutes=10, validity="失效", title="关于印发2025年政务公开工作要点的通知（已失效）")
    assert publish(portal, revised) == url

    doc = page(portal, url)
    article = doc.find("article")
    first = next(child for child in article.children if not isinstance(child, str))
    assert first.attrs.get("class") == "validity-notice"
    assert "本文件已失效" in first.text
    assert header_table(doc)["有效性"] == "失效"
    assert doc.find("h1").text == revised.title
    home = parse_html((portal.config.root / "index.html").read_text())
    assert revised.title in [text for ul in home.find_all("ul", class_="item-list") for _, text in ul.links()]
    assert revised.title in (portal.config.root / "zcwj/index.html").read_text()
    assert "已失效" in parse_html((portal.config.root / "zcwj/index.html").read_text()).find("ul", class_="item-list").text
    assert relation_links(page(portal, interp_url), "解读的政策文件")[0][1].startswith(revised.title)  # neighbour re-rendered

    repealed = policy("pol-1", 1, version=3, minutes=20, validity="废止")
    publish(portal, repealed)
    assert "本文件已废止" in page(portal, url).find("p", class_="validity-notice").text


def test_a_revision_moving_columns_keeps_the_url_and_moves_the_list_entry(portal: PortalAdapter) -> None:
    url = publish(portal, policy("pol-1", 1))
    assert publish(portal, policy("pol-1", 1, version=2, minutes=5, category="通知公告")) == url
    assert listed(portal, "zcwj/index.html") == []
    assert listed(portal, "tzgg/index.html") == [url]
    assert header_table(page(portal, url))["组配分类"] == "通知公告"


# -- retraction --------------------------------------------------------------------------------

def test_retraction_replaces_the_page_with_a_withdrawal_notice_and_updates_linking_pages(portal: PortalAdapter) -> None:
    pol_url = publish(portal, policy("pol-1", 1))
    interp = interpretation("int-1", "pol-1", 2, minutes=1)
    interp_url = publish(portal, interp)

    assert retract(portal, interp, "解读内容与政策原文不一致") == interp_url

    doc = page(portal, interp_url)
    assert [h.text for h in doc.iter("h1")] == ["该信息已撤回"]
    assert header_table(doc) == {"标题": interp.title, "索引号": "11370100004188591X/2025-00002",
                                 "撤回原因": "解读内容与政策原文不一致", "撤回日期": "2025-03-09"}
    assert meta_tags(doc)["robots"] == "noindex"
    assert not doc.find("main").find_all("div", class_="article-body")
    with portal.open_store().session() as store:
        assert store.record("int-1") is None  # the withdrawn text is not kept
    assert interp_url not in [href for href, _ in page(portal, pol_url).links()]  # the policy's back link is gone
    index = index_json(portal)
    assert [e["id"] for e in index["entries"]] == ["pol-1"]
    assert index["entries"][0]["interpreted_by"] == []
    assert index["withdrawn"][0] | {"reason": "解读内容与政策原文不一致"} == index["withdrawn"][0]

    late = portal.deliver(task_for(interp))  # the publish task redelivered after the retraction
    assert isinstance(late, Delivered) and late.url == interp_url
    assert page(portal, interp_url).find("h1").text == "该信息已撤回"
    assert interp_url not in feed_links(portal)


def test_a_page_referencing_a_withdrawn_policy_names_it_as_withdrawn(portal: PortalAdapter) -> None:
    pol = policy("pol-1", 1)
    publish(portal, pol)
    interp_url = publish(portal, interpretation("int-1", "pol-1", 2, minutes=1))
    retract(portal, pol)
    assert relation_links(page(portal, interp_url), "解读的政策文件") == [
        ("", f"{pol.title} 索引号：11370100004188591X/2025-00001 （已撤回）")]


def test_retracting_an_unknown_publication_keeps_a_late_publish_withdrawn(portal: PortalAdapter) -> None:
    pub = policy("pol-9", 9)
    url = retract(portal, pub, "误发")
    assert [t["id"] for t in index_json(portal)["withdrawn"]] == ["pol-9"]
    assert index_json(portal)["entries"] == []

    assert publish(portal, pub) == url
    assert page(portal, url).find("h1").text == "该信息已撤回"
    assert index_json(portal)["entries"] == []
    assert listed(portal, "zcwj/index.html") == []


# -- safety ------------------------------------------------------------------------------------

def test_scripts_handlers_and_javascript_urls_never_reach_a_page(portal: PortalAdapter) -> None:
    evil = policy("pol-x", 1, title='<script>alert("t")</script>关于"测试"的通知', summary='"><script>alert(1)</script>',
                  keywords=['"><img src=x onerror=alert(1)>'], body=(
                      '<p>正文<script>alert(1)</script></p><img src="x.png" onerror="alert(2)">'
                      '<a href="javascript:alert(3)">点我</a><a href="JaVaScRiPt:alert(4)" onclick="x()">再点</a>'
                      '<p style="x" onmouseover="alert(5)">悬停</p><iframe src="https://evil.example"></iframe>'))
    doc = page(portal, publish(portal, evil))

    assert doc.find("h1").text == evil.title  # shown literally, as text
    assert meta_tags(doc)["ArticleTitle"] == evil.title
    scripts = list(doc.iter("script"))
    assert len(scripts) == 1 and scripts[0] in doc.find("head").children  # only the site's own toggle script
    assert not doc.find("body").find_all("script")
    assert not list(doc.iter("iframe"))
    for node in doc.iter():
        assert not [name for name in node.attrs if name.startswith("on")], node
        for name in ("href", "src"):
            assert not node.attrs.get(name, "").strip().lower().startswith("javascript:"), node
    assert "正文" in doc.find("div", class_="article-body").text


def test_rejects_tasks_it_can_never_do_without_writing(portal: PortalAdapter) -> None:
    for bad_id in ("../../etc/passwd", ".hidden", "index", "index_2"):
        result = portal.deliver(task_for(policy(bad_id, 1)))
        assert isinstance(result, Rejected) and result.code == "bad_id", bad_id
    wrong_channel = portal.deliver(task_for(policy("pol-1", 1), channel="wechat"))
    assert isinstance(wrong_channel, Rejected) and wrong_channel.code == "wrong_channel"
    assert not portal.config.root.exists()


def test_unwritable_directory_is_retryable(make_portal: Callable[..., PortalAdapter], tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("")
    result = make_portal(root=tmp_path / "not-a-dir" / "portal").deliver(task_for(policy("pol-1", 1)))
    assert isinstance(result, Retryable)
    assert "ENOTDIR" in result.reason or "EEXIST" in result.reason


def test_a_failed_write_leaves_the_old_page_and_no_temp_files(portal: PortalAdapter, monkeypatch: pytest.MonkeyPatch) -> None:
    url = publish(portal, policy("pol-1", 1))
    before = snapshot(portal.config.root)

    def disk_full(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), dst)

    monkeypatch.setattr(os, "replace", disk_full)
    result = portal.deliver(task_for(policy("pol-1", 1, version=2, title="修订后的标题")))
    assert isinstance(result, Retryable) and "ENOSPC" in result.reason
    monkeypatch.undo()

    assert snapshot(portal.config.root) == before
    assert page(portal, url).find("h1").text == policy("pol-1", 1).title
    assert publish(portal, policy("pol-1", 1, version=2, title="修订后的标题")) == url  # the retry succeeds
    assert not [p for p in portal.config.root.rglob("*") if p.name.endswith(".tmp")]


def test_corrupt_index_is_retryable_and_left_for_the_operator(portal: PortalAdapter) -> None:
    publish(portal, policy("pol-1", 1))
    portal.close()  # the worker stops; the operator finds the index damaged (a bad restore, a disk fault)
    store = portal.config.store_path
    for extra in (store.with_name(store.name + "-wal"), store.with_name(store.name + "-shm")):
        extra.unlink(missing_ok=True)
    store.write_bytes(b"not a database" * 100)
    result = portal.deliver(task_for(policy("pol-2", 2)))
    assert isinstance(result, Retryable) and str(store) in result.reason
    assert store.read_bytes() == b"not a database" * 100


def test_concurrent_deliveries_from_threads_and_workers_lose_nothing(make_portal: Callable[..., PortalAdapter]) -> None:
    workers = [make_portal(), make_portal()]  # two adapters on one directory, like two worker processes
    pubs = [policy(f"p{n:02d}", n + 1, minutes=n) for n in range(20)]
    errors: list[BaseException] = []

    def run(share: list[Publication], adapter: PortalAdapter) -> None:
        try:
            for pub in share:
                publish(adapter, pub)
        except BaseException as exc:  # collected: an assertion in a thread would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(pubs[i::4], workers[i % 2])) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    entries = index_json(workers[0])["entries"]
    assert sorted(e["id"] for e in entries) == [p.id for p in pubs]
    assert len(listed(workers[0], "zcwj/index.html")) == 20
    assert len(feed_links(workers[0])) == 20
    assert not [p for p in workers[0].config.root.rglob("*") if p.name.endswith(".tmp")]


def test_an_amended_policy_stays_in_force_and_links_the_amending_file(portal: PortalAdapter) -> None:
    url = publish(portal, policy("pol-a", 1))
    interp_url = publish(portal, interpretation("int-a", "pol-a", 2, minutes=1))
    amending = policy("pol-b", 3, minutes=5, title="关于修改《2025年济南市政务公开工作要点》部分条款的通知",
                      doc_no="济政办字〔2025〕21号", related=[{"id": "pol-a", "relation": "amends"}])
    amending_url = publish(portal, amending)
    publish(portal, policy("pol-a", 1, version=2, minutes=6, validity="已修改"))

    doc = page(portal, url)
    notice = doc.find("p", class_="validity-notice")
    assert "本文件已修改" in notice.text and "现行有效" in notice.text and "不再作为执行依据" not in notice.text
    assert amending.title in notice.text and amending_url in [a.attrs.get("href") for a in notice.find_all("a")]
    assert header_table(doc)["有效性"] == "已修改"
    listed = parse_html((portal.config.root / "zcwj/index.html").read_text()).find("ul", class_="item-list").text
    assert "已修改" in listed and "已已" not in listed
    # its interpretation carries no "no longer in force" banner: an amended policy is in force
    assert not page(portal, interp_url).find_all("p", class_="validity-notice")
