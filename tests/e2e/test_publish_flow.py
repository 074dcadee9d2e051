"""Publish once, end to end: a department publishes over HTTP; citizens read the portal."""

from __future__ import annotations

import datetime as dt
import time

import requests

from govcast.samples import sample_interpretation, sample_policy
from tests.conftest import Client, GovcastProcess
from tests.e2e.portal_html import feed_links, index_entries, page, sitemap_urls


def publish(client: Client, payload: dict) -> dict:  # type: ignore[type-arg]
    response = client.submit(payload)
    assert response.status_code == 202, response.text
    return client.wait_for(response.json()["id"], "delivered")


def test_policy_and_interpretation_reach_the_portal_linked_both_ways(system: GovcastProcess, department: Client) -> None:
    policy = publish(department, sample_policy())
    interp = publish(department, sample_interpretation(policy["id"]))
    policy_url = policy["deliveries"]["portal"]["url"]
    interp_url = interp["deliveries"]["portal"]["url"]
    assert policy_url.startswith(f"{system.url}/portal/") and interp_url.startswith(f"{system.url}/portal/")

    policy_page = page(policy_url)
    header = policy_page.header
    assert header["索引号"] == policy["index_no"]
    assert policy["index_no"].startswith("11370100004188591X/")
    assert header["发文字号"] == "济政办字〔2025〕8号"
    assert header["发布机构"] == sample_policy()["publisher"]
    assert header["成文日期"] == "2025-03-04"
    assert header["有效性"] == "有效"
    assert "综合政务" in header["主题分类"] and "政务公开" in header["主题分类"]
    assert header["组配分类"] == "政策文件"
    assert policy_page.meta["ArticleTitle"] == sample_policy()["title"]
    assert policy_page.meta["SiteIDCode"]
    # two-way 关联解读: the policy page was re-rendered to link its interpretation
    relative = interp_url.removeprefix(f"{system.url}/portal/")
    assert any(link.endswith(relative.split("/")[-1]) for link in policy_page.links), policy_page.links
    interp_page = page(interp_url)
    assert any(link.endswith(policy_url.split("/")[-1]) for link in interp_page.links)

    assert {policy_url, interp_url} <= set(feed_links(f"{system.url}/portal/feed.xml"))
    assert {policy_url, interp_url} <= set(sitemap_urls(f"{system.url}/portal/sitemap.xml"))
    assert policy_page.alternates and policy_page.alternates[0]["type"] == "application/atom+xml"
    assert {e["id"] for e in index_entries(f"{system.url}/portal/index.json")} >= {policy["id"], interp["id"]}


def test_status_shows_each_step_with_timestamps(department: Client) -> None:
    done = publish(department, sample_policy(title="关于公布2025年第一批市级政务公开标准目录的通知"))
    assert done["deliveries"]["portal"]["status"] == "delivered"
    steps = [(e["channel"], e["status"]) for e in done["timeline"]]
    assert ("portal", "delivering") in steps and ("portal", "delivered") in steps
    times = [e["at"] for e in done["timeline"]]
    assert times == sorted(times)


def test_revision_and_validity_change_update_the_page(department: Client) -> None:
    first = publish(department, sample_policy(title="关于调整公共场所政务公开专区开放时间的通知"))
    revised = sample_policy(title="关于调整公共场所政务公开专区开放时间的通知（修订）", validity="失效")
    response = department.revise(first["id"], revised)
    assert response.status_code == 202, response.text
    assert response.json()["version"] == 2
    done = department.wait_for(first["id"], "delivered", version=2)
    assert done["index_no"] == first["index_no"]
    reread = page(done["deliveries"]["portal"]["url"])
    assert reread.header["有效性"] == "失效"
    assert "（修订）" in reread.meta["ArticleTitle"]
    assert "失效" in reread.text.split(reread.header["信息名称"])[0] or "已失效" in reread.text


def test_retraction_withdraws_the_page_everywhere(system: GovcastProcess, department: Client) -> None:
    done = publish(department, sample_policy(title="关于开展2025年度政务公开培训的通知"))
    url = done["deliveries"]["portal"]["url"]
    response = department.retract(done["id"], "通知内容有误，另行发布")
    assert response.status_code == 202, response.text
    gone = department.wait_for(done["id"], "retracted")
    assert gone["deliveries"]["portal"]["status"] == "retracted"
    notice = page(url)
    assert "撤回" in notice.text and "通知内容有误，另行发布" in notice.text
    assert url not in feed_links(f"{system.url}/portal/feed.xml")
    assert url not in sitemap_urls(f"{system.url}/portal/sitemap.xml")
    assert done["id"] not in {e["id"] for e in index_entries(f"{system.url}/portal/index.json")}


def test_hostile_body_is_inert_on_the_portal(department: Client) -> None:
    body = ('<p>正文<script>alert("x")</script></p><img src="a.png" onerror="alert(1)">'
            '<a href="javascript:alert(2)">点我</a><p onclick="steal()">段落</p>')
    done = publish(department, sample_policy(title="关于政务公开网页安全检查的通知", body=body))
    article = page(done["deliveries"]["portal"]["url"])
    scripts = [a for tag, a in article.tags if tag == "script" and "alert" in str(a)]
    assert scripts == []
    assert "alert(\"x\")" not in article.text
    for tag, attrs in article.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not any(v.strip().lower().startswith("javascript:") for v in attrs.values()), (tag, attrs)
    assert "正文" in article.text and "段落" in article.text


def test_scheduled_publication_waits_for_its_time(department: Client) -> None:
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)
    response = department.submit(sample_policy(title="关于定时发布政务公开年度报告的通知", publish_at=at.isoformat()))
    assert response.status_code == 202, response.text
    pub_id = response.json()["id"]
    assert department.get(pub_id)["status"] == "scheduled"
    time.sleep(1.5)
    assert department.get(pub_id)["status"] == "scheduled"  # still held before its time
    done = department.wait_for(pub_id, "delivered", timeout=30)
    delivered_at = max(e["at"] for e in done["timeline"] if e["status"] == "delivered")
    assert dt.datetime.fromisoformat(delivered_at) >= at


def test_departments_see_only_their_own(department: Client, other_department: Client, operator: Client) -> None:
    mine = publish(department, sample_policy(title="关于本部门政务公开事项目录的通知"))
    foreign = requests.get(f"{other_department.base}/v1/publications/{mine['id']}",
                           headers={"Authorization": f"Bearer {other_department.token}"}, timeout=10)
    assert foreign.status_code == 404
    assert foreign.headers["content-type"].startswith("application/problem+json")
    assert other_department.retract(mine["id"], "不是我的").status_code == 404
    assert operator.get(mine["id"])["id"] == mine["id"]


def test_portal_does_not_serve_the_adapters_private_state(system: GovcastProcess, department: Client) -> None:
    done = publish(department, sample_policy(title="关于政务公开审核记录保护的通知"))
    record = requests.get(f"{system.url}/portal/_records/{done['id']}.json", timeout=10)
    assert record.status_code == 404  # stored records name the reviewers (三审)
    assert requests.get(f"{system.url}/portal/.lock", timeout=10).status_code == 404
    assert requests.get(f"{system.url}/portal/index.json", timeout=10).status_code == 200


def test_screening_holds_personal_data_until_an_operator_approves(department: Client, operator: Client) -> None:
    response = department.submit(sample_policy(title="关于公布政务公开联络员名单的通知",
                                               body="<p>联络员：王敏，手机13912345678。</p>"))
    assert response.status_code == 202, response.text
    pub_id = response.json()["id"]
    held = department.wait_for(pub_id, "held")
    assert "139****5678" in held["timeline"][-1]["detail"] and "13912345678" not in str(held["timeline"])
    assert "portal" not in held["deliveries"] or held["deliveries"]["portal"]["status"] != "delivered"
    refused = requests.post(f"{department.base}/v1/publications/{pub_id}/approve",
                            headers={"Authorization": f"Bearer {department.token}"}, timeout=10)
    assert refused.status_code == 403  # a department cannot wave its own item through
    approved = requests.post(f"{operator.base}/v1/publications/{pub_id}/approve",
                             headers={"Authorization": f"Bearer {operator.token}"}, timeout=10)
    assert approved.status_code == 202, approved.text
    assert department.wait_for(pub_id, "delivered")["deliveries"]["portal"]["status"] == "delivered"
