"""Screening holds what must not be published and lets ordinary official text through."""

from __future__ import annotations

import pytest

from processors.screen import id_number_ok, luhn_ok, mask_id, screen_text

VALID_ID = "11010519491231002X"  # GB 11643 example number, check digit X
VALID_CARD = "6222020200112233445"


def card_with_luhn(prefix: str) -> str:
    for last in "0123456789":
        if luhn_ok(prefix + last):
            return prefix + last
    raise AssertionError


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("本文件密级：机密★1年", "classification-mark"),
        ("★秘密 请勿外传", "classification-mark"),
        ("（内部资料）注意保存", "classification-mark"),
        (f"申请人身份证号{VALID_ID}，", "id-number"),
        ("联系电话13812345678。", "mobile-number"),
        (f"收款账户{card_with_luhn('622202020011223344')}", "bank-card"),
    ],
)
def test_holds_sensitive_content(text: str, rule: str) -> None:
    findings = screen_text(text)
    assert rule in {f.rule for f in findings}, findings


@pytest.mark.parametrize(
    "text",
    [
        "联系电话：0531-51707772",  # landline numbers are published on purpose
        "联系电话138****1234，身份证号35*************123",  # already masked
        "济政办字〔2025〕8号 关于加强保密工作的通知",  # talks about secrecy, carries no mark
        "索引号 11370100004188591X/2025-00001",  # credit codes are public
        "11010519491231002Y",  # wrong check digit: not an ID number
    ],
)
def test_lets_ordinary_text_through(text: str) -> None:
    assert screen_text(text) == []


def test_findings_never_repeat_the_personal_data() -> None:
    finding = screen_text(f"身份证{VALID_ID}")[0]
    assert VALID_ID not in str(finding)
    assert finding.masked == mask_id(VALID_ID) == "11*************02X"  # domain.md's form: 35*************123
    assert finding.excerpt == "身份证11*************02X"


def test_checksums() -> None:
    assert id_number_ok(VALID_ID) and not id_number_ok("110105194912310021")
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")


def test_credit_codes_are_not_id_numbers_even_with_a_matching_check_digit() -> None:
    # 17 digits + check char that satisfies GB 11643 but has no valid birth date
    from processors.screening.personal import _ID_CHECK, _ID_WEIGHTS

    body = "11370100004188591"
    check = _ID_CHECK[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]
    assert not id_number_ok(body + check)
    assert screen_text(f"统一社会信用代码 {body}{check}") == []


def test_an_excerpt_masks_every_number_in_it_and_never_cuts_one_in_half() -> None:
    text = "联系人王敏13812345678、李强13987654321，身份证号" + VALID_ID
    findings = screen_text(text)
    assert [f.masked for f in findings] == ["138****5678", "139****4321", "11*************02X"]
    for finding in findings:
        digits = "".join(c for c in finding.excerpt if c.isdigit())
        assert "12345678" not in digits and "87654321" not in digits and "19491231" not in digits, finding.excerpt
    assert findings[0].excerpt == "联系人王敏138****5678、李强139****4321…"  # the window grew to the end of the second


def test_offsets_point_into_the_value_as_stored() -> None:
    text = "手机：＋８６ １３８\u200b１２３４ ５６７８。"
    (finding,) = screen_text(text, field="summary")
    assert finding.field == "summary" and text[finding.start:finding.end] == "＋８６ １３８\u200b１２３４ ５６７８"


def test_offsets_stay_right_once_the_fold_table_knows_the_characters() -> None:
    # Folding remembers characters across texts: a zero-width space met before must still shift offsets.
    screen_text("前文\u200b无号码", field="title")
    text = "内部\u200b资料：手机１３８\u200b１２３４５６７８"
    rules = {f.rule: text[f.start:f.end] for f in screen_text(text, field="summary")}
    assert rules == {"internal-wording": "内部\u200b资料", "mobile-number": "１３８\u200b１２３４５６７８"}


@pytest.mark.parametrize("text, rule", [
    ("本件请勿外传。", "internal-wording"),  # no 密 and no 部: found by its 外
    ("此件为内部资料，请各单位注意。", "internal-wording"),  # no 密: found by its 部
    ("【内部资料】", "classification-mark"),
    ("本通知涉及机密事项。", "internal-wording"),
])
def test_marks_without_a_level_character_are_still_found(text: str, rule: str) -> None:
    assert [f.rule for f in screen_text(text)] == [rule]
