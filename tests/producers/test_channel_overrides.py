"""Per-channel overrides: checked against what each channel's renderer produces, applied after rendering, screened."""

from __future__ import annotations

import pytest

from adapters.wechat.render import render_wechat
from adapters.weibo.render import render_weibo, weibo_length
from govcast.samples import sample_policy
from processors.screen import screen
from settings import Settings
from tests.portal_support import build_publication

SETTINGS = Settings(public_url="https://gov.example.cn")
OWN = {"wechat": {"title": "一图读懂：2025年济南市政务公开工作要点", "digest": "今年政务公开工作的五个重点，一图看懂。"},
       "weibo": {"text": "【一图读懂】2025年济南市政务公开工作要点来了 #政务公开#"}}

# (case, overrides, channels, field named, words)
BAD = [
    ("a channel that does not exist", {"fax": {"title": "x"}}, None, "body.channel_overrides.fax", "no channel"),
    ("a channel the item does not go to", {"weibo": {"text": "x"}}, ["portal", "wechat"], "body.channel_overrides.weibo",
     "does not go to weibo"),
    ("a field WeChat does not render", {"wechat": {"content": "<p>x</p>"}}, None, "body.channel_overrides.wechat.content",
     "title, digest, author"),
    ("a channel without overridable fields", {"portal": {"title": "x"}}, None, "body.channel_overrides.portal.title", "nothing"),
    ("a WeChat title over 64", {"wechat": {"title": "政" * 65}}, None, "body.channel_overrides.wechat.title", "at most 64"),
    ("a control character", {"wechat": {"title": "标题\x00"}}, None, "body.channel_overrides", "control characters"),
    ("a Weibo text with no room for the link", {"weibo": {"text": "政" * 131}}, None, "body.channel_overrides.weibo.text",
     "at most 140"),
]


@pytest.mark.parametrize(("overrides", "channels", "field", "words"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_an_override_no_renderer_can_take_is_refused_naming_it(client, dept, bus, problem, overrides, channels, field, words):
    payload = sample_policy(channel_overrides=overrides, **({"channels": channels} if channels else {}))
    body = problem(client.post("/v1/publications", json=payload, headers=dept), 422, field)
    assert any(words in e["message"] for e in body["errors"] if e["field"] == field), body
    assert bus.events() == []


def test_overrides_are_accepted_and_kept(client, dept):
    answer = client.post("/v1/publications", json=sample_policy(channel_overrides=OWN), headers=dept)
    assert answer.status_code == 202, answer.text
    assert client.get(f"/v1/publications/{answer.json()['id']}", headers=dept).json()["channel_overrides"] == OWN


def test_overrides_replace_the_rendered_fields_and_nothing_else() -> None:
    plain = build_publication("pub_ov000001", sample_policy())
    own = build_publication("pub_ov000002", sample_policy(channel_overrides=OWN))
    article, default = render_wechat(own, SETTINGS), render_wechat(plain, SETTINGS)
    assert article["title"] == OWN["wechat"]["title"] and article["digest"] == OWN["wechat"]["digest"]
    assert article["author"] == default["author"] and article["overridden"] == ["digest", "title"]
    post = render_weibo(own, SETTINGS)
    assert post["status"] == OWN["weibo"]["text"] + " https://gov.example.cn/portal/zcwj/pub_ov000002.html"
    assert post["length"] == weibo_length(post["status"]) <= 140


def test_override_texts_are_screened_like_every_other_text() -> None:
    pub = build_publication("pub_ov000003", sample_policy(channel_overrides={"weibo": {"text": "咨询请致电13912345678"}}))
    [finding] = [f for f in screen(pub) if f.field == "channel_overrides.weibo.text"]
    assert finding.rule == "mobile-number" and "13912345678" not in finding.excerpt
    short = build_publication("pub_ov000004", sample_policy(short_title="内部资料 请勿外传"))
    assert any(f.field == "short_title" for f in screen(short))
