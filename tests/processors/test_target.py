"""Targeting semantics, the inverted index against a plain scan, the directory refresh, subscriber validation."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine

from adapters.push.adapter import quiet_until
from adapters.push.targeting import Directory, TargetIndex, industry_name, why
from adapters.push.unsubscribe import make_token, read_token
from persistence.subscribers import SubscriberStore
from schemas.publication import Targeting
from schemas.subscriber import SubscriberIn, from_csv_row
from tests.push_support import REGIONS, business, credit_code

ROWS = [  # code, region, industry, scale, qualifications, topics
    ("A", "历下区", "C3911", "小型", "专精特新中小企业|高新技术企业", "税费减免"),
    ("B", "高新区", "C3921", "中型", "专精特新中小企业", ""),
    ("C", "历下区", "C3411", "小型", "专精特新中小企业", "人才"),
    ("D", "市中区", "C3911", "微型", "", "税费减免|人才"),
    ("E", "高新区", "I6510", "大型", "瞪羚", ""),
]


def codes(t: Targeting) -> set[str]:
    return set(TargetIndex(ROWS).match(t))


def test_within_a_field_any_value_across_fields_all() -> None:
    assert codes(Targeting(regions=["历下区", "高新区"])) == {"A", "B", "C", "E"}
    assert codes(Targeting(regions=["历下区", "高新区"], industries=["C39"])) == {"A", "B"}
    assert codes(Targeting(regions=["历下区", "高新区"], industries=["C39"], qualifications=["瞪羚"])) == set()
    assert codes(Targeting(scales=["小型", "微型"], topics=["人才"])) == {"C", "D"}


def test_industries_are_code_prefixes() -> None:
    assert codes(Targeting(industries=["C"])) == {"A", "B", "C", "D"}
    assert codes(Targeting(industries=["C39"])) == {"A", "B", "D"}
    assert codes(Targeting(industries=["C391"])) == {"A", "D"}
    assert codes(Targeting(industries=["c3911", "I"])) == {"A", "D", "E"}
    assert codes(Targeting(industries=["C3"])) == {"A", "B", "C", "D"}  # any prefix, as written


def test_empty_fields_do_not_constrain_and_no_targeting_matches_nobody() -> None:
    assert codes(Targeting(regions=[], industries=["I"])) == {"E"}
    assert codes(Targeting()) == set()
    assert TargetIndex(ROWS).match(None) == []
    assert codes(Targeting(regions=["未知区"])) == set()


def test_credit_codes_name_businesses_explicitly() -> None:
    assert codes(Targeting(credit_codes=["B", "E", "ZZZ"])) == {"B", "E"}
    assert codes(Targeting(credit_codes=["B", "E"], industries=["C"])) == {"B"}  # all given fields must match


def test_index_agrees_with_a_plain_scan_on_random_data() -> None:
    rng = random.Random(7)
    rows = [business(n, rng) for n in range(3000)]
    index = TargetIndex((r["credit_code"], r["region"], r["industry"], r["scale"], r["qualifications"], r["topics"])
                        for r in rows)
    for _ in range(200):
        t = Targeting(regions=rng.sample(REGIONS, rng.randint(0, 3)),
                      industries=rng.sample(["C", "C39", "C391", "I", "C3411", "F"], rng.randint(0, 2)),
                      scales=rng.sample(["大型", "中型", "小型", "微型"], rng.randint(0, 2)),
                      topics=rng.sample(["税费减免", "人才", "科技创新"], rng.randint(0, 1)))
        given = [t.regions, t.industries, t.scales, t.topics]
        want = set() if not any(given) else {
            r["credit_code"] for r in rows
            if (not t.regions or r["region"] in t.regions)
            and (not t.industries or any(r["industry"].startswith(p) for p in t.industries))
            and (not t.scales or r["scale"] in t.scales)
            and (not t.topics or set(t.topics) & set(r["topics"].split("|")))}
        assert set(index.match(t)) == want


def test_directory_refreshes_on_change_and_skips_unsubscribed(tmp_path: Path) -> None:
    store = SubscriberStore(create_engine(f"sqlite:///{tmp_path / 's.db'}"))
    directory = Directory(store)
    rng = random.Random(1)
    one = from_csv_row(business(1, rng) | {"region": "历下区", "industry": "C3911", "channels": "email"})
    assert directory.match(Targeting(regions=["历下区"])) == []
    store.upsert(one)
    assert directory.match(Targeting(regions=["历下区"])) == [one.credit_code]
    store.unsubscribe(one.credit_code, "email")  # its only channel
    assert directory.match(Targeting(regions=["历下区"])) == []


def test_why_line_names_the_matching_facts() -> None:
    sub = SubscriberIn(credit_code=credit_code(5), name="测试", region="历下区", industry="C3911",
                       qualifications=["专精特新中小企业"])
    line = why(sub, Targeting(regions=["历下区"], industries=["C39"], qualifications=["专精特新中小企业"]))  # type: ignore[arg-type]
    assert "历下区" in line and "专精特新中小企业" in line
    assert "所属行业为计算机、通信和其他电子设备制造业" in line and "C39" not in line  # names, not codes


@pytest.mark.parametrize(("code", "name"), [("C3911", "计算机、通信和其他电子设备制造业"), ("I65", "软件和信息技术服务业"),
                                            ("C", "制造业"), ("Z99", "Z99")])
def test_industry_names_from_gbt_4754(code: str, name: str) -> None:
    assert industry_name(code) == name


def test_subscriber_validation() -> None:
    good = credit_code(42)
    assert SubscriberIn(credit_code=good.lower(), name="x").credit_code == good
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(ValidationError, match="GB 32100"):
        SubscriberIn(credit_code=bad, name="x")
    with pytest.raises(ValidationError, match="GB/T 4754"):
        SubscriberIn(credit_code=good, name="x", industry="C3")
    with pytest.raises(ValidationError, match="contact point"):
        SubscriberIn(credit_code=good, name="x", channels=["email"])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="whsec_"):
        SubscriberIn(credit_code=good, name="x", webhook_url="https://h/x", webhook_secret="nope", channels=["webhook"])  # type: ignore[arg-type,list-item]
    with pytest.raises(ValidationError, match="21:00-08:00"):
        SubscriberIn(credit_code=good, name="x", quiet_hours="9pm-8am")


def test_quiet_hours_window() -> None:
    tz = dt.timezone(dt.timedelta(hours=8))
    at = dt.datetime(2025, 3, 4, 23, 0, tzinfo=tz)
    assert quiet_until(at, "21:00-08:00") == dt.datetime(2025, 3, 5, 8, 0, tzinfo=tz)
    assert quiet_until(at.replace(hour=7), "21:00-08:00") == dt.datetime(2025, 3, 4, 8, 0, tzinfo=tz)
    assert quiet_until(at.replace(hour=12), "21:00-08:00") is None
    assert quiet_until(at.replace(hour=13), "12:00-14:00") == at.replace(hour=14)


def test_unsubscribe_tokens_cannot_be_forged() -> None:
    token = make_token("s3cret", credit_code(1), "email")
    assert read_token("s3cret", token) == (credit_code(1), "email", "")
    assert read_token("s3cret", make_token("s3cret", credit_code(1), "all", "pub_x")) == (credit_code(1), "all", "pub_x")
    assert read_token("other", token) is None
    _payload, _, mac = token.partition(".")
    forged = make_token("s3cret", credit_code(2), "all").partition(".")[0] + "." + mac
    assert read_token("s3cret", forged) is None
    assert read_token("s3cret", "garbage") is None
