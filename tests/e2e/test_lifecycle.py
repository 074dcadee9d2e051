"""Validity lifecycle end to end: a decision that repeals (or replaces) a policy changes the policy's 有效性
on every copy the portal keeps (its page, its interpretation's page, the feed), with a link to the decision,
as part of publishing the decision; nothing else has to be sent."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from typing import Any

import requests

from govcast.samples import OTHER_DEPARTMENT, sample_interpretation, sample_policy
from tests.conftest import Client, GovcastProcess
from tests.e2e.portal_html import ATOM, page


def publish(client: Client, payload: dict[str, Any]) -> dict[str, Any]:
    response = client.submit(payload)
    assert response.status_code == 202, response.text
    return client.wait_for(response.json()["id"], "delivered")


def validity_notice(url: str) -> str:
    """The text of the page's validity notice (above the metadata table), or "" when it has none."""
    found = re.search(r'<p class="validity-notice"[^>]*>(.*?)</p>', requests.get(url, timeout=10).text, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)) if found else ""


def feed_entry(system: GovcastProcess, url: str) -> dict[str, Any]:
    root = ET.fromstring(requests.get(f"{system.url}/portal/feed.xml", timeout=10).content)
    for entry in root.iter(f"{ATOM}entry"):
        if entry.find(f"{ATOM}link").attrib["href"] == url:  # type: ignore[union-attr]
            return {"summary": entry.findtext(f"{ATOM}summary") or "",
                    "validity": [c.attrib["term"] for c in entry.iter(f"{ATOM}category")
                                 if c.attrib.get("scheme") == "urn:govcast:validity"]}
    raise AssertionError(f"{url} is not in the feed")


def test_repealing_decision_lapses_the_policy_and_its_interpretation(system: GovcastProcess, department: Client) -> None:
    policy = publish(department, sample_policy(title="关于支持小微企业稳岗扩岗的若干措施"))
    interp = publish(department, sample_interpretation(policy["id"], title="《关于支持小微企业稳岗扩岗的若干措施》政策解读"))
    policy_url, interp_url = policy["deliveries"]["portal"]["url"], interp["deliveries"]["portal"]["url"]
    assert page(policy_url).header["有效性"] == "有效" and validity_notice(policy_url) == ""
    assert feed_entry(system, policy_url)["validity"] == ["有效"]

    decision = publish(department, sample_policy(
        title="关于废止《关于支持小微企业稳岗扩岗的若干措施》的决定", doc_no="济政办字〔2025〕19号",
        related=[{"id": policy["id"], "relation": "repeals"}]))
    decision_url = decision["deliveries"]["portal"]["url"]

    lapsed = department.wait_for(policy["id"], "delivered", version=2)
    assert lapsed["validity"] == "废止"
    assert "关于废止《关于支持小微企业稳岗扩岗的若干措施》的决定" in lapsed["change_note"]
    policy_page = page(policy_url)
    assert policy_page.header["有效性"] == "废止"
    notice = validity_notice(policy_url)
    assert "本文件已废止" in notice and "的决定》" in notice
    assert decision_url in policy_page.links  # the notice (and 废止本文件的文件) link the decision
    assert "废止本文件的文件" in policy_page.text

    interp_page = page(interp_url)
    banner = validity_notice(interp_url)
    assert "本解读所解读的政策文件已不再有效" in banner and "已废止" in banner
    assert interp_page.header["有效性"] == "有效"  # the interpretation itself was not repealed; its banner says why

    entry = feed_entry(system, policy_url)
    assert entry["validity"] == ["废止"] and entry["summary"].startswith("【已废止】")
    assert department.get(interp["id"])["version"] == 1  # nothing was re-sent for the interpretation


def test_replacing_policy_makes_the_old_one_lapse(department: Client) -> None:
    old = publish(department, sample_policy(title="济南市政务公开工作考核办法（2023年）"))
    new = publish(department, sample_policy(title="济南市政务公开工作考核办法（2025年）", doc_no="济政办字〔2025〕20号",
                                             related=[{"id": old["id"], "relation": "replaces"}]))
    lapsed = department.wait_for(old["id"], "delivered", version=2)
    assert lapsed["validity"] == "失效"
    old_page = page(old["deliveries"]["portal"]["url"])
    assert old_page.header["有效性"] == "失效"
    assert "替代本文件的文件" in old_page.text and new["deliveries"]["portal"]["url"] in old_page.links


def test_an_amending_notice_marks_the_policy_amended_and_in_force(system: GovcastProcess, department: Client) -> None:
    policy = publish(department, sample_policy(title="关于支持企业吸纳高校毕业生就业的若干措施"))
    interp = publish(department, sample_interpretation(policy["id"], title="《关于支持企业吸纳高校毕业生就业的若干措施》政策解读"))
    amending = publish(department, sample_policy(
        title="关于修改《关于支持企业吸纳高校毕业生就业的若干措施》部分条款的通知", doc_no="济政办字〔2025〕22号",
        related=[{"id": policy["id"], "relation": "amends"}]))
    amended = department.wait_for(policy["id"], "delivered", version=2)
    assert amended["validity"] == "已修改" and "修改" in amended["change_note"]
    url = policy["deliveries"]["portal"]["url"]
    policy_page = page(url)
    assert policy_page.header["有效性"] == "已修改" and "修改本文件的文件" in policy_page.text
    notice = validity_notice(url)
    assert "本文件已修改" in notice and "现行有效" in notice and amending["deliveries"]["portal"]["url"] in policy_page.links
    entry = feed_entry(system, url)
    assert entry["validity"] == ["已修改"] and entry["summary"].startswith("【已修改】")
    assert validity_notice(interp["deliveries"]["portal"]["url"]) == ""  # its policy is still in force


def test_a_department_cannot_repeal_another_departments_policy(system: GovcastProcess, department: Client,
                                                               other_department: Client) -> None:
    theirs = publish(department, sample_policy(title="关于公布市级政务服务事项清单的通知"))
    attempt = other_department.submit(sample_policy(
        title="关于废止政务服务事项清单的决定", publisher=OTHER_DEPARTMENT["name"],
        publisher_code=OTHER_DEPARTMENT["publisher_code"], related=[{"id": theirs["id"], "relation": "repeals"}]))
    assert attempt.status_code == 422, attempt.text
    assert any(e["field"] == "body.related.0.relation" for e in attempt.json()["errors"])
    assert department.get(theirs["id"])["validity"] == "有效"


def beijing_today() -> dt.date:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()


def test_policy_expires_on_its_own_when_the_pipeline_clock_passes_its_expiry_date(
        system: GovcastProcess, department: Client) -> None:
    tomorrow = beijing_today() + dt.timedelta(days=1)
    policy = publish(department, sample_policy(title="关于2025年度政务公开示范点创建的临时措施",
                                               expiry_date=tomorrow.isoformat()))
    url = policy["deliveries"]["portal"]["url"]
    assert page(url).header["有效期至"] == tomorrow.isoformat() and validity_notice(url) == ""
    # Still in force through its last day: moving the clock less than that changes nothing.
    moved = requests.post(f"{system.url}/sandbox/_clock", json={"advance_seconds": 3600},
                          headers=system.operator_headers(), timeout=10)
    assert moved.status_code == 200, moved.text
    assert department.get(policy["id"])["version"] == 1

    moved = requests.post(f"{system.url}/sandbox/_clock", json={"advance_seconds": 2 * 86400},
                          headers=system.operator_headers(), timeout=10)
    assert moved.status_code == 200, moved.text
    lapsed = department.wait_for(policy["id"], "delivered", version=2)
    assert lapsed["validity"] == "失效" and f"有效期至{tomorrow.isoformat()}" in lapsed["change_note"]
    assert page(url).header["有效性"] == "失效" and "本文件已失效" in validity_notice(url)
    assert feed_entry(system, url)["validity"] == ["失效"]
