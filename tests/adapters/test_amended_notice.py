"""已修改 (amends) as the push channel tells it: in force, named by the amending file, one notice per amendment."""

from __future__ import annotations

from adapters.push.message import PushMessage
from adapters.push.render import render_push
from schemas.delivery import Action, recipient_delivery_id
from schemas.publication import Lapse, Validity
from settings import Settings
from tests.adapters.newmedia_support import publication

SETTINGS = Settings(public_url="https://gov.example.cn")
AMENDING = Lapse(by_id="pub_amend01", by_title="关于修改《稳岗扩岗若干措施》部分条款的通知", by_doc_no="济政办字〔2025〕21号",
                 by_url="https://gov.example.cn/portal/zcwj/pub_amend01.html")


def test_an_amendment_notice_says_the_policy_is_still_in_force_and_names_the_amending_file() -> None:
    amended = publication(validity="已修改").model_copy(update={"lapsed_by": AMENDING, "version": 2})
    copy = render_push(amended, SETTINGS)
    assert copy["event"] == "policy.validity_changed" and copy["validity"] == "已修改"
    assert copy["summary"] == ("该政策已被《关于修改《稳岗扩岗若干措施》部分条款的通知》（济政办字〔2025〕21号）修改，"
                               "仍然有效，请以修改后的内容为准。")
    assert copy["replacement_url"] == AMENDING.by_url
    repealed = publication(validity="废止").model_copy(update={"lapsed_by": AMENDING, "version": 2})
    assert render_push(repealed, SETTINGS)["summary"].startswith("该政策已废止，依据")
    assert Validity.amended.phrase == "已修改" and Validity.repealed.phrase == "已废止"  # never "已已修改"


def test_a_business_gets_one_notice_per_amendment_and_still_the_repeal_notice_after() -> None:
    pub = publication()
    first = pub.model_copy(update={"validity": Validity.amended, "lapsed_by": AMENDING, "version": 2})
    revised = first.model_copy(update={"version": 3})  # a revision of the same amendment: the same notice
    second = first.model_copy(update={"version": 4, "lapsed_by": AMENDING.model_copy(update={"by_id": "pub_amend02"})})
    repealed = first.model_copy(update={"version": 5, "validity": Validity.repealed})
    ids = [recipient_delivery_id(p, "push", Action.publish, "91370100MA3C5J4P4K") for p in (first, revised, second, repealed)]
    assert ids[0] == ids[1] and len(set(ids)) == 3


def test_the_subject_line_reads_right_for_every_validity() -> None:
    common = {"delivery_id": "d", "publication_id": "p", "version": 2, "title": "稳岗扩岗若干措施", "summary": "", "url": "u", "doc_no": "",
              "publisher": "x", "reason": "", "link": "l", "unsubscribe_url": "u", "unsubscribe_all_url": "u", "sent_at": 0.0,
              "event": "policy.validity_changed"}
    for validity, words in (("已修改", "《稳岗扩岗若干措施》已修改"), ("废止", "《稳岗扩岗若干措施》已废止")):
        assert PushMessage(**{**common, "validity": validity}).subject_line.endswith(words)
