"""The portal's dynamic part as a browser and a program meet it: search, jump-to-page, 404, feed type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from adapters.portal import PortalAdapter, PortalConfig
from govcast.portal_web import PublicFiles, portal_router
from govcast.samples import sample_policy
from schemas import Delivered
from tests.portal_support import build_publication, parse_html, task_for


@pytest.fixture
def make_portal(tmp_path: Any) -> Callable[..., PortalAdapter]:
    def make(**changes: Any) -> PortalAdapter:
        return PortalAdapter(PortalConfig(root=tmp_path / "portal", base_url="http://testserver/portal",
                                          site_name="济南市人民政府（测试）", site_id_code="3701000001",
                                          refresh_seconds=0, **changes))
    return make


def client_for(portal: PortalAdapter) -> TestClient:
    app = FastAPI()
    app.include_router(portal_router(portal.config))
    app.mount("/portal", PublicFiles(directory=portal.config.root, html=True, check_dir=False), name="portal")
    return TestClient(app)


def publish(portal: PortalAdapter, pub_id: str, seq: int, **changes: Any) -> str:
    result = portal.deliver(task_for(build_publication(pub_id, sample_policy(**changes), seq=seq, minutes=seq)))
    assert isinstance(result, Delivered) and result.url
    return result.url


@pytest.fixture
def site(make_portal: Callable[..., PortalAdapter]) -> tuple[PortalAdapter, dict[str, str]]:
    portal = make_portal()
    urls = {
        "exact": publish(portal, "p-exact", 1, title="关于加强城市供水安全管理的通知", body="<p>供水企业应当建立水质检测制度。</p>"),
        "body": publish(portal, "p-body", 2, title="市政府办公厅关于公共服务的意见",
                        body="<p>各区县要保障城市供水安全，完善应急预案。</p>",
                        attachments=[{"name": "二次供水设施清单.xlsx", "url": "https://files.example.gov.cn/list.xlsx"}]),
        "other": publish(portal, "p-other", 3, title="关于开展春季植树活动的通知", body="<p>全市组织义务植树。</p>",
                         doc_no="济政办字〔2025〕15号"),
    }
    return portal, urls


def hits(client: TestClient, q: str) -> list[str]:
    response = client.get("/portal/search", params={"q": q, "format": "json"})
    assert response.status_code == 200
    return [hit["url"] for hit in response.json()["hits"]]


@pytest.mark.parametrize(("query", "expected"), [
    ("关于加强城市供水安全管理的通知", ["exact", "body"]),  # the exact title first, the body match after it
    ("完善应急预案", ["body"]),  # a phrase in the body only
    ("济政办字〔2025〕15号", ["other"]),  # 文号
    ("11370100004188591X/2025-00003", ["other"]),  # 索引号
    ("二次供水设施", ["body"]),  # an attachment's name
    ("植树", ["other"]),  # two characters: no trigram, the LIKE fallback
    ("城市供水 预案", ["body"]),  # every term must appear
    ("不存在的内容", []),
])
def test_search_finds_title_body_doc_no_index_no_and_attachment_names(
        site: tuple[PortalAdapter, dict[str, str]], query: str, expected: list[str]) -> None:
    portal, urls = site
    found = hits(client_for(portal), query)
    if query == "关于加强城市供水安全管理的通知":
        assert found[0] == urls["exact"]
    else:
        assert found == [urls[name] for name in expected]


def test_search_page_highlights_matches_and_escapes_the_query(site: tuple[PortalAdapter, dict[str, str]]) -> None:
    portal, urls = site
    client = client_for(portal)
    page = client.get("/portal/search", params={"q": "城市供水"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    doc = parse_html(page.text)
    results = doc.find("ol", class_="search-results")
    assert [href for href, _ in results.links()] == [urls["body"], urls["exact"]] or \
        [href for href, _ in results.links()] == [urls["exact"], urls["body"]]
    marks = [m.text for m in results.iter("mark")]
    assert marks and set(marks) == {"城市供水"}
    assert doc.find("input", id="q").attrs["value"] == "城市供水"
    evil = client.get("/portal/search", params={"q": '<script>alert(1)</script>"'}).text
    assert "<script>alert(1)" not in evil and "&lt;script&gt;" in evil
    assert parse_html(client.get("/portal/search").text).find("form", role="search")


def test_retracted_and_revised_articles_leave_the_index(site: tuple[PortalAdapter, dict[str, str]]) -> None:
    from schemas import Action

    portal, urls = site
    pub = build_publication("p-other", sample_policy(title="关于开展春季植树活动的通知", doc_no="济政办字〔2025〕15号"), seq=3)
    portal.deliver(task_for(pub.model_copy(update={"retracted": True, "retract_reason": "误发"}), Action.retract))
    client = client_for(portal)
    assert hits(client, "春季植树") == []
    revised = build_publication("p-body", sample_policy(title="市政府办公厅关于公共服务的意见", body="<p>改为燃气安全。</p>"),
                                seq=2, version=2, minutes=30)
    assert isinstance(portal.deliver(task_for(revised)), Delivered)
    assert hits(client, "完善应急预案") == []
    assert hits(client, "燃气安全") == [urls["body"]]


def test_missing_and_private_pages_answer_with_the_site_404_page(site: tuple[PortalAdapter, dict[str, str]]) -> None:
    portal, _ = site
    client = client_for(portal)
    for path in ("/portal/zcwj/nothing-here.html", "/portal/.lock", "/portal/_private/x.json"):
        response = client.get(path)
        assert response.status_code == 404, path
        doc = parse_html(response.text)
        assert doc.find("h1").text == "您访问的页面不存在"
        assert doc.find("form", role="search").attrs["action"] == "http://testserver/portal/search"
        assert ("http://testserver/portal/index.html", "返回网站首页") in doc.find("main").links()


def test_feed_is_served_as_atom_and_jump_goes_to_the_page(make_portal: Callable[..., PortalAdapter]) -> None:
    portal = make_portal(page_size=2)
    for n in range(7):
        publish(portal, f"p{n}", n + 1)
    client = client_for(portal)
    assert client.get("/portal/feed.xml").headers["content-type"] == "application/atom+xml; charset=utf-8"
    jump = client.get("/portal/go", params={"column": "zcwj", "page": 2}, follow_redirects=False)
    assert (jump.status_code, jump.headers["location"]) == (303, "http://testserver/portal/zcwj/index_2.html")
    past = client.get("/portal/go", params={"column": "zcwj", "page": 99}, follow_redirects=False)
    assert past.headers["location"] == "http://testserver/portal/zcwj/index.html"
    assert client.get("/portal/go", params={"column": "../etc", "page": 1}).status_code == 422


def test_policy_library_filters_combine_with_counts_and_link_interpretations(
        make_portal: Callable[..., PortalAdapter]) -> None:
    from govcast.samples import sample_interpretation

    portal = make_portal()
    publish(portal, "p1", 1, title="关于印发财政资金管理办法的通知", issuers=["济南市人民政府", "济南市财政局"], normative=True,
            written_date="2024-05-06", publish_date="2024-05-08", doc_no="济政发〔2024〕3号", theme="财政、金融、审计\\财政")
    publish(portal, "p2", 2, title="关于废止部分规章的决定", issuers=["济南市人民政府"], written_date="2024-09-01",
            publish_date="2024-09-02", doc_no="济政发〔2024〕9号", validity="废止")
    publish(portal, "p3", 3, title="2025年政务公开工作要点", written_date="2025-03-04", publish_date="2025-03-05")
    result = portal.deliver(task_for(build_publication("i1", sample_interpretation("p1"), seq=4, minutes=4)))
    assert isinstance(result, Delivered)
    client = client_for(portal)

    def library(**params: str) -> Any:
        response = client.get("/portal/zcwjk/", params=params)
        assert response.status_code == 200
        return parse_html(response.text)

    def titles(doc: Any) -> list[str]:
        found = doc.find_all("ul", class_="item-list policy-list")
        return [li.find("a").text for li in found[0].iter("li")] if found else []

    def counts(doc: Any, facet: str) -> dict[str, int]:
        section = doc.find("section", aria_labelledby=f"facet-{facet}")
        return {li.find("a").text: int(li.find("span").text) for li in section.iter("li") if li.find_all("a")}

    everything = library()
    assert titles(everything) == ["2025年政务公开工作要点", "关于废止部分规章的决定", "关于印发财政资金管理办法的通知"]  # no interpretation
    assert counts(everything, "issuer") == {"济南市人民政府": 2, "济南市人民政府办公厅（演示）": 1, "济南市财政局": 1}
    assert counts(everything, "year") == {"2025年": 1, "2024年": 2}

    doc = library(issuer="济南市人民政府", year="2024", validity="有效")  # filters combine
    assert titles(doc) == ["关于印发财政资金管理办法的通知"]
    assert counts(doc, "validity") == {"有效": 1, "废止": 1}  # each facet counted under the other filters
    policy_item = doc.find("ul", class_="item-list policy-list")
    assert (result.url, f"[{sample_interpretation('p1')['title']}]") in policy_item.links()

    assert titles(library(doc_no="〔2024〕9")) == ["关于废止部分规章的决定"]
    assert titles(library(normative="1")) == ["关于印发财政资金管理办法的通知"]
    assert titles(library(theme="财政、金融、审计")) == ["关于印发财政资金管理办法的通知"]
    assert titles(library(issuer="济南市财政局", validity="废止")) == []
    selected = library(year="2025").find("section", aria_labelledby="facet-year").find("a", aria_current="true")
    assert selected.attrs["href"] == "http://testserver/portal/zcwjk/"  # the chosen value links to its removal
    assert client.get("/portal/zcwjk/", params={"validity": "<x>"}).status_code == 422


@pytest.mark.parametrize("sandboxes", [True, False])
def test_runtime_passes_sandbox_mode_to_the_portal(tmp_path: Any, sandboxes: bool) -> None:
    """Sandbox mode shows the 演示环境 banner and keeps search engines out; a production site does neither."""
    from adapters.portal.config import portal_config
    from settings import Settings

    config = portal_config(Settings(data_dir=tmp_path, sandboxes=sandboxes))
    assert isinstance(config, PortalConfig) and config.sandbox is sandboxes
    portal = PortalAdapter(config.model_copy(update={"refresh_seconds": 0}))
    url = publish(portal, "p1", 1)
    doc = parse_html((config.root / url.removeprefix(config.base_url + "/")).read_text())
    assert bool(doc.find_all("p", class_="sandbox-banner")) is sandboxes
    assert ("robots" in {m.attrs.get("name") for m in doc.iter("meta")}) is sandboxes


@pytest.mark.parametrize("push", [True, False])
def test_the_portal_links_the_subscription_center_only_where_push_is_a_channel(tmp_path: Any, push: bool) -> None:
    """Without push nothing would ever reach a subscribed business: no 订阅惠企政策 link in header, footer or the
    policy's box (static page and the per-request 政策文件库 alike); with push all three lead to /subscribe."""
    from adapters.portal.config import portal_config
    from settings import Settings

    channels = ["portal", "push"] if push else ["portal", "wechat"]
    config = portal_config(Settings(data_dir=tmp_path, channels=channels))
    portal = PortalAdapter(config.model_copy(update={"refresh_seconds": 0}))
    url = publish(portal, "p1", 1)
    article = parse_html((config.root / url.removeprefix(config.base_url + "/")).read_text())
    library = parse_html(client_for(portal).get("/portal/zcwjk/").text)
    for doc in (article, library):
        links = [(href, text) for href, text in doc.links() if href.endswith("/subscribe")]
        assert bool(links) is push, links
        assert any("订阅惠企" in text for _, text in doc.links()) is push
    assert bool(article.find_all("aside", class_="subscribe-callout")) is push
    if push:
        assert (f"{Settings(data_dir=tmp_path).base_url}/subscribe", "订阅惠企政策") in article.find(
            "nav", class_="service-links").links()
    from govcast.commands import _banner

    assert ("/subscribe" in _banner(Settings(data_dir=tmp_path, channels=channels), [], "embedded")) is push  # at start
