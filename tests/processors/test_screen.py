"""Screening holds what must not be published and lets ordinary official text through."""

from __future__ import annotations

import pytest

from processors.screen import id_number_ok, luhn_ok, mask, screen_text

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
        ("本文件密级：机密★1年", "classification mark"),
        ("★秘密 请勿外传", "classification mark"),
        ("（内部资料）注意保存", "classification mark"),
        (f"申请人身份证号{VALID_ID}，", "ID number"),
        ("联系电话13812345678。", "mobile number"),
        (f"收款账户{card_with_luhn('622202020011223344')}", "bank card"),
    ],
)
def test_holds_sensitive_content(text: str, rule: str) -> None:
    findings = screen_text(text)
    assert any(rule in f.rule for f in findings), findings


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
    assert finding.excerpt == mask(VALID_ID) == "110***********002X"


def test_checksums() -> None:
    assert id_number_ok(VALID_ID) and not id_number_ok("110105194912310021")
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")


def test_credit_codes_are_not_id_numbers_even_with_a_matching_check_digit() -> None:
    # 17 digits + check char that satisfies GB 11643 but has no valid birth date
    from processors.screen import _ID_CHECK, _ID_WEIGHTS

    body = "11370100004188591"
    check = _ID_CHECK[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]
    assert not id_number_ok(body + check)
    assert screen_text(f"统一社会信用代码 {body}{check}") == []
