"""The department's cover, body images (uploadimg) and the 64-character title, against the WeChat and Weibo sandboxes."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from adapters.wechat.api import WechatError
from govcast.samples import sample_policy
from schemas import Delivered, DeliveryTask, Pending, Retryable
from tests.adapters.cover_support import cover_b64, picture
from tests.adapters.newmedia_support import Platforms, later, publication, wait_until


@pytest.fixture
def platforms(tmp_path: Path) -> Iterator[Platforms]:
    server = Platforms(tmp_path).start()
    yield server
    server.stop()


def published(platforms: Platforms, adapter: Any, task: DeliveryTask) -> Delivered:
    first = adapter.deliver(task)
    assert isinstance(first, Pending), first
    wait_until(lambda: platforms.inspect("wechat")["callbacks"])
    done = adapter.deliver(later(task, checks=1))
    assert isinstance(done, Delivered), done
    return done


def test_the_seed_policy_goes_out_whole_with_the_departments_cover_and_its_images_uploaded(platforms: Platforms) -> None:
    """Acceptance (issue 14): title not cut, the department's cover, its images uploaded, within the sandbox's limits."""
    platforms.files.update({
        "yitu.png": (picture((640, 900), "PNG", noisy=False), "image/png"),  # 一图读懂, as it is
        "photo.jpg": (picture((2400, 1600), "JPEG"), "image/jpeg"),  # over uploadimg's 1 MB: re-encoded
        "chart.gif": (picture((600, 400), "GIF", noisy=False), "image/gif"),  # not JPG/PNG: converted
    })
    seed = sample_policy()
    body = (f'<p><img src="{platforms.url}/files/yitu.png" alt="一图读懂"></p>{seed["body"]}'
            f'<figure><img src="{platforms.url}/files/photo.jpg" alt="会议现场"><figcaption>会议现场</figcaption></figure>'
            f'<p><img src="{platforms.url}/files/chart.gif" alt="图表"></p>'
            '<p><img src="http://169.254.169.254/latest/meta-data/x.png" alt="内网"></p>')
    pub = publication(body=body, cover={"data": cover_b64()})
    assert len(pub.title) > 32  # the old limit cut it
    adapter = platforms.wechat()
    task = platforms.task("wechat", pub)
    done = published(platforms, adapter, task)
    assert done.detail and "3 of 4 body images uploaded" in done.detail and "169.254.169.254" in done.detail
    assert "cover: the department's own" in done.detail

    state = platforms.inspect("wechat")
    news = state["articles"][0]["news_item"][0]
    assert news["title"] == pub.title == "济南市人民政府办公厅关于印发2025年济南市政务公开工作要点的通知"
    [draft] = state["drafts"]
    assert draft["stripped_images"] == []  # every image WeChat shows came from uploadimg
    uploaded = [i["url"] for i in state["body_images"]]
    assert len(uploaded) == 3 and all(url in news["content"] for url in uploaded)
    assert all(i["size"] < 1024 * 1024 and i["type"] in ("jpg", "png") for i in state["body_images"])
    assert "/files/" not in news["content"] and "〔图片请见原文〕" in news["content"]  # the refused one: the note
    assert 'alt="一图读懂"' in news["content"]
    # the thumb is the department's cover, byte for byte as kept on the publication
    thumb = next(m for m in state["materials"] if m["media_id"] == news["thumb_media_id"])
    shown = requests.get(thumb["url"], timeout=10).content
    assert pub.cover is not None and hashlib.sha256(shown).hexdigest() == pub.cover.sha256
    # the sandbox's article page shows the images from WeChat's own addresses
    page = requests.get(news["url"], timeout=10).text
    assert all(url in page for url in uploaded)


def test_an_image_server_that_fails_is_retried_then_left_as_the_note_and_nothing_is_uploaded_twice(platforms: Platforms) -> None:
    platforms.files.update({"ok.png": (picture((400, 300), "PNG", noisy=False), "image/png"), "down.png": 503})
    body = f'<p>正文。</p><p><img src="{platforms.url}/files/ok.png"></p><p><img src="{platforms.url}/files/down.png"></p>'
    adapter = platforms.wechat()
    task = platforms.task("wechat", publication(body=body))
    first = adapter.deliver(task)
    assert isinstance(first, Retryable) and "HTTP 503" in first.reason
    assert len(platforms.inspect("wechat")["body_images"]) == 1
    second = adapter.deliver(later(task, attempt=2))
    assert isinstance(second, Pending), second
    assert len(platforms.inspect("wechat")["body_images"]) == 1  # ok.png was not uploaded again
    facts = platforms.ledger.get("wechat", task.delivery_id)
    assert facts["images"][f"{platforms.url}/files/down.png"] == "" and "HTTP 503" in facts["image_notes"][0]


def test_a_redirect_to_an_inward_address_is_refused_at_that_hop(platforms: Platforms, tmp_path: Path) -> None:
    """The department's URL is on an allowed origin, but it redirects to a loopback service: not fetched."""
    (tmp_path / "inward").mkdir()
    inward = Platforms(tmp_path / "inward").start()  # another local server: loopback, not our origin
    try:
        inward.files["secret.png"] = (picture((300, 200), "PNG", noisy=False), "image/png")
        platforms.files.update({"hop.png": f"{inward.url}/files/secret.png", "ok.png": (picture((300, 200), "PNG", noisy=False),
                                                                                         "image/png")})
        body = f'<p><img src="{platforms.url}/files/hop.png"></p><p><img src="{platforms.url}/files/ok.png"></p>'
        adapter = platforms.wechat()
        task = platforms.task("wechat", publication(body=body))
        assert isinstance(adapter.deliver(task), Pending)
        facts = platforms.ledger.get("wechat", task.delivery_id)
        assert facts["images"][f"{platforms.url}/files/hop.png"] == "" and "loopback" in facts["image_notes"][0]
        assert facts["images"][f"{platforms.url}/files/ok.png"]  # the same origin without a hop: uploaded
        allowed = platforms.wechat(image_allowed_networks=("127.0.0.1/32",))  # an intranet CMS the operator allowed
        other = platforms.task("wechat", publication(body=body))
        assert isinstance(allowed.deliver(other), Pending)
        assert all(platforms.ledger.get("wechat", other.delivery_id)["images"].values())
    finally:
        inward.stop()


def test_uploadimg_and_material_limits_are_the_documented_ones(platforms: Platforms) -> None:
    api = platforms.wechat().api
    small_png = picture((300, 200), "PNG", noisy=False)
    assert api.call("/cgi-bin/media/uploadimg", files={"media": ("a.png", small_png, "image/png")})["url"]
    refused = [("a.gif", picture((300, 200), "GIF", noisy=False), 40005), ("big.jpg", picture((2400, 1600), "JPEG"), 40009)]
    for name, data, code in refused:
        with pytest.raises(WechatError) as caught:
            api.call("/cgi-bin/media/uploadimg", files={"media": (name, data, "image/jpeg")})
        assert caught.value.errcode == code, name
    with pytest.raises(WechatError) as caught:  # a thumb is a JPG of at most 64 KB
        api.call("/cgi-bin/material/add_material", params={"type": "thumb"}, files={"media": ("t.png", small_png, "image/png")})
    assert caught.value.errcode == 40005
    over_64 = picture((900, 383), "JPEG")
    with pytest.raises(WechatError) as caught:
        api.call("/cgi-bin/material/add_material", params={"type": "thumb"}, files={"media": ("t.jpg", over_64, "image/jpeg")})
    assert caught.value.errcode == 40009
    assert api.call("/cgi-bin/material/add_material", params={"type": "image"},
                    files={"media": ("i.jpg", over_64, "image/jpeg")})["media_id"]
    # draft/add drops images that did not come from uploadimg, as WeChat does; titles over 64 are refused
    thumb = api.call("/cgi-bin/material/add_material", params={"type": "thumb"},
                     files={"media": ("c.jpg", base64.b64decode(publication(cover={"data": cover_b64()}).cover.data),  # type: ignore[union-attr]
                                      "image/jpeg")})["media_id"]
    article = {"title": "标题", "content": '<p>正文<img src="https://elsewhere.example/x.png"></p>', "thumb_media_id": thumb}
    api.call("/cgi-bin/draft/add", {"articles": [article]})
    assert platforms.inspect("wechat")["drafts"][-1]["stripped_images"] == ["https://elsewhere.example/x.png"]
    api.call("/cgi-bin/draft/add", {"articles": [{**article, "title": "政" * 64}]})
    with pytest.raises(WechatError) as caught:
        api.call("/cgi-bin/draft/add", {"articles": [{**article, "title": "政" * 65}]})
    assert caught.value.errcode == 45003


def test_a_weibo_post_carries_the_departments_cover_as_its_picture(platforms: Platforms) -> None:
    adapter = platforms.weibo()
    with_cover = publication(cover={"data": cover_b64()})
    posted = adapter.deliver(platforms.task("weibo", with_cover))
    assert isinstance(posted, Delivered) and posted.detail == "posted with the department's cover as its picture"
    without = publication(title="关于做好2025年春节假期安排的通知", summary="春节假期安排。")
    assert isinstance(adapter.deliver(platforms.task("weibo", without)), Delivered)
    posts = {p["text"].split("】")[0]: p for p in platforms.inspect("weibo")["posts"]}
    pictured = posts["【" + with_cover.title]
    assert pictured["pic"] == {"size": len(base64.b64decode(with_cover.cover.data)), "type": "image/jpeg"}  # type: ignore[union-attr]
    assert not posts["【关于做好2025年春节假期安排的通知"]["has_pic"]
    page = requests.get(pictured["url"], timeout=10).text
    assert f"/sandbox/weibo/pic/{pictured['idstr']}" in page
    # the sandbox refuses what Weibo refuses: a picture that is not JPG, PNG or GIF
    refused = requests.post(f"{platforms.url}/sandbox/weibo/2/statuses/share.json",
                            headers={"Authorization": f"OAuth2 {adapter.config.access_token.get_secret_value()}"},
                            data={"status": f"测试 {platforms.url}/portal/"}, files={"pic": ("a.pdf", b"%PDF-1.7", "application/pdf")},
                            timeout=10)
    assert refused.status_code == 400 and refused.json()["error_code"] == 20005
