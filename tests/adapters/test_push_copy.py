"""Push copy that reads right: what each kind is called, the document's short name, and SMS within one segment.

The SMS table renders every kind with the sandbox's approved template and signature and the demo's public URL
(`govcast run` on http://127.0.0.1:8000), as the carrier counts it: 【signature】 + text, link included.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from adapters import channels
from adapters.common.wording import kind_label, subject
from adapters.push import short_links
from adapters.push.render import render_push
from adapters.push.sms_client import ONE_SEGMENT, sms_config
from adapters.push.sms_text import placeholder_code, plan_sms
from govcast.samples import sample_interpretation, sample_policy
from persistence.ledger import Ledger
from persistence.store import StatusStore
from processors.stages import ChangeKind, PublicationChange, StageContext, plan
from schemas.delivery import DeliveryTask, StatusEvent
from schemas.publication import Kind, Targeting
from settings import Settings
from tests.adapters.newmedia_support import publication

DEMO_URL = "http://127.0.0.1:8000"
LONG = "济南市人民政府关于进一步优化营商环境降低实体经济企业成本推动民营经济和中小微企业高质量发展的若干政策措施"


@pytest.mark.parametrize(("title", "short"), [
    ("济南市人民政府办公厅关于印发2025年济南市政务公开工作要点的通知", "2025年济南市政务公开工作要点"),
    ("政策解读：关于《2025年济南市政务公开工作要点》的解读", "2025年济南市政务公开工作要点"),
    ("济南市人民政府关于支持企业稳岗扩岗的若干措施", "支持企业稳岗扩岗的若干措施"),
    ("关于支持专精特新中小企业高质量发展的若干措施", "支持专精特新中小企业高质量发展的若干措施"),
    ("关于印发济南市支持企业的若干措施的通知", "济南市支持企业的若干措施"),
    ("2025年春节假期安排", "2025年春节假期安排"),
])
def test_a_document_is_named_by_its_subject(title: str, short: str) -> None:
    assert subject(title) == short


def test_each_kind_says_what_it_is_and_only_a_benefit_policy_is_a_惠企政策() -> None:
    by_topic = Targeting(topics=["税费减免"])
    assert kind_label(Kind.policy, None, ["政务公开", "工作要点"]) == "政策文件"  # the demo's work plan
    assert kind_label(Kind.policy, by_topic, []) == "惠企政策"
    assert kind_label(Kind.policy, None, ["惠企政策"]) == "惠企政策"
    assert kind_label(Kind.interpretation, by_topic, []) == "政策解读"
    assert kind_label(Kind.notice, by_topic, ["惠企"]) == "通知公告"


@pytest.fixture
def demo(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, public_url=DEMO_URL)


# (kind, title, topics, segments, cut)
TABLE = [
    ("policy", sample_policy()["title"], [], 1, False),
    ("policy", sample_policy()["title"], ["税费减免"], 1, False),
    ("interpretation", sample_interpretation("pub_x")["title"], [], 1, False),
    ("notice", "济南市人民政府办公厅关于2025年部分节假日安排的通知", [], 1, False),
    ("policy", "关于支持专精特新中小企业高质量发展的若干措施", ["科技创新"], 1, False),
    ("notice", "关于开展2025年度济南市专精特新中小企业认定和复核工作的通知", [], 2, False),
    ("policy", LONG, ["融资支持"], 2, True),
]


@pytest.mark.parametrize(("kind", "title", "topics", "want_segments", "cut"), TABLE)
def test_sms_of_every_kind_fits_one_segment_or_says_why_not(demo: Settings, kind: str, title: str, topics: list[str],
                                                           want_segments: int, cut: bool) -> None:
    config = sms_config(demo)
    assert config is not None
    pub = publication(kind=kind, title=title, targeting={"regions": ["历下区"], "topics": topics},
                      **({"related": [{"id": "pub_policy", "relation": "interprets"}]} if kind == "interpretation" else {}))
    rendition = render_push(pub, demo)
    label, name = rendition["label"], rendition["subject"]
    sms = plan_sms(config.template_text, config.sign_name, {"kind": label, "title": name, "code": placeholder_code()})
    content = f"【{config.sign_name}】{sms.text}"
    assert content.startswith(f"【政策推送沙箱】{label}《") and content.endswith(f"{DEMO_URL}/s/xxxxxx")
    assert len(content) == sms.chars == rendition["sms_chars"] and sms.segments == rendition["sms_segments"] == want_segments
    assert ("惠企政策" in content) == (kind == "policy" and bool(topics))
    if want_segments == 1:
        assert sms.chars <= ONE_SEGMENT
    assert (sms.params["title"] != name) == cut == bool(sms.warning) == bool(rendition.get("warnings"))
    if cut:
        assert sms.params["title"].endswith("…") and "sent as 《" in rendition["warnings"][0]


def test_an_sms_that_cannot_fit_is_a_warning_in_the_timeline(demo: Settings, tmp_path: Path) -> None:
    """Noted when the item is planned, before any business is messaged (GET /v1/publications/{id} shows the timeline):
    the push task carries the note, and the fan-out, the stage before any message, sends it (processors.topology)."""
    ctx = StageContext(settings=demo.model_copy(update={"channels": ["push"]}), store=StatusStore(f"sqlite:///{tmp_path}/s.db"),
                       adapters={}, renderers=channels.renderers())

    def notes(title: str) -> list[str]:
        out = asyncio.run(plan(PublicationChange(kind=ChangeKind.submitted, publication=publication(title=title)), ctx))
        carried = [s for m in out if isinstance(m, DeliveryTask) for s in m.statuses]
        return [m.detail or "" for m in [*out, *carried] if isinstance(m, StatusEvent) and m.channel == "push"]

    assert notes(sample_policy()["title"]) == ["version 1 queued"]
    queued, warning = notes(LONG)
    assert queued == "version 1 queued"
    assert warning.startswith("warning: SMS: the title (43 characters) is longer than an SMS template variable may be")


def test_a_long_template_that_leaves_no_room_in_two_segments_is_a_warning_too() -> None:
    template = "您好！" + "本市政策信息点对点推送服务提醒您：" * 4 + "${kind}《${title}》已发布 http://127.0.0.1:8000/s/${code}"
    sms = plan_sms(template, "政策推送沙箱", {"kind": "政策文件", "title": "支持专精特新中小企业高质量发展的若干措施",
                                         "code": placeholder_code()})
    assert sms.segments == 2 and sms.params["title"].endswith("…") and "does not fit two segments" in sms.warning


def test_short_link_codes_are_stable_resolvable_and_never_shared(tmp_path: Path) -> None:
    ledger = Ledger(create_engine(f"sqlite:///{tmp_path / 'ledger.db'}"))
    code = short_links.allocate(ledger, "pub_a")
    assert len(code) == short_links.CODE_CHARS and short_links.allocate(ledger, "pub_a") == code
    assert short_links.resolve(ledger, code) == "pub_a"
    # Another publication whose first derived code is taken gets the next one.
    ledger.put(short_links.LEDGER_CHANNEL, short_links.candidate("pub_b"), publication_id="pub_other")
    taken = short_links.allocate(ledger, "pub_b")
    assert taken == short_links.candidate("pub_b", 1) and short_links.resolve(ledger, taken) == "pub_b"
    assert short_links.resolve(ledger, "zzzzzz") is None and short_links.resolve(ledger, "../etc") is None
