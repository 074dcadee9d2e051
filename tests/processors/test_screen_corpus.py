"""Screening corpus: every case of issue 10's screening section, positive and negative, one row each.

A row puts one value into one place of the bundled sample policy (which alone has no findings),
screens the whole normalized publication, and names exactly what must be found there -- rule,
severity, field and the masked form offered -- or nothing. The row's id says what it proves.
Personal data never appears in a finding, and each finding's offsets point at the stored value.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import pytest

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from processors.normalize import normalize
from processors.screen import Finding, Piece, pieces, screen, screen_piece
from processors.screening import reading
from schemas import IndexNo, Publication, PublicationIn

ID = "11010519491231002X"  # GB 11643's own example: valid date and check character
ID_MASKED = "11*************02X"
MOBILE_MASKED = "138****5678"
CARD = "6222020200112233446"  # Luhn-valid, 19 digits
CARD_MASKED = "6222***********3446"
CARD16 = "6228480012345671"  # Luhn-valid, 16 digits
CREDIT_DIGITS = "123701001000280040"  # an all-digit unified social credit code that also passes Luhn
SITE = "https://www.jinan.gov.cn"


@dataclass(frozen=True)
class Want:
    rule: str
    severity: str
    field: str
    masked: str = ""


@dataclass(frozen=True)
class Case:
    proves: str
    where: str  # title, summary, body, publisher, issuer, normative_no, change_note, keyword, related, attachment_*
    value: str
    want: list[Want] = field(default_factory=list)
    secret: str = ""  # digits that must never appear in a finding


def mark(where: str) -> Want:
    return Want("classification-mark", "block", where)


def wording(where: str) -> Want:
    return Want("internal-wording", "hold", where)


def term(where: str) -> Want:
    return Want("secrecy-term", "warn", where)


def id_number(where: str) -> Want:
    return Want("id-number", "block", where, ID_MASKED)


def mobile(where: str) -> Want:
    return Want("mobile-number", "hold", where, MOBILE_MASKED)


def card(where: str, masked: str = CARD_MASKED) -> Want:
    return Want("bank-card", "hold", where, masked)


CASES = [
    # -- classification marks (block) ------------------------------------------------------------
    Case("standalone 秘密 line heading an HTML body", "body", "<p>秘密</p><p>各区县人民政府：</p>", [mark("body")]),
    Case("standalone 秘密 line in a plain-text body", "body", "秘密\n各区县人民政府：\n现将有关事项通知如下。", [mark("body")]),
    Case("standalone 秘密 line ended by <br>", "body", "<p>秘密<br>各区县人民政府：</p>", [mark("body")]),
    Case("standalone mark in brackets with spaces", "body", "<p>【 机密 】</p><p>正文。</p>", [mark("body")]),
    Case("密级 with ★ and its 保密期限 in the title", "title", "机密★1年 关于调整有关事项的通知", [mark("title")]),
    Case("look-alike star ✭ after the level", "summary", "秘密✭5年", [mark("summary")]),
    Case("look-alike star ⭐ before the level", "summary", "⭐机密 会议纪要", [mark("summary")]),
    Case("full-width asterisk ＊ as the star", "summary", "绝密＊长期", [mark("summary")]),
    Case("outlined star ☆ as the star", "summary", "机密☆", [mark("summary")]),
    Case("zero-width space inside the level", "body", "<p>机\u200b密★</p><p>正文。</p>", [mark("body")]),
    Case("spaced-out level and star", "body", "<p>机 密 ★ 10年</p><p>正文。</p>", [mark("body")]),
    Case("traditional 機密★", "summary", "機密★", [mark("summary")]),
    Case("密级 label", "body", "<p>密级：秘密</p><p>正文。</p>", [mark("body")]),
    Case("bracketed 内部资料 mark", "body", "（内部资料）请注意保存。", [mark("body")]),
    Case("内部资料 注意保存 line with an ideographic space", "body", "<p>内部资料\u3000注意保存</p><p>正文。</p>", [mark("body")]),
    Case("a mark as a keyword", "keyword", "秘密", [mark("keywords[0]")]),
    Case("a mark in an attachment name", "attachment_name", "（机密）会议纪要.pdf", [mark("attachments[0].name")]),
    Case("a mark in an image alt", "body", f'<p><img src="{SITE}/a.png" alt="机密★ 会议照片"></p>', [mark("body img[alt]")]),
    Case("a mark in a link title", "body", f'<p><a href="{SITE}/" title="绝密★">链接</a></p>', [mark("body a[title]")]),
    Case("a mark in the publisher", "publisher", "济南市人民政府办公厅（内部）", [mark("publisher")]),
    Case("a mark in an issuing organ (发文机关)", "issuer", "济南市人民政府办公厅（内部）", [mark("issuers[0]")]),
    Case("a mark in a change note", "change_note", "机密★ 修订第三条", [mark("change_note")]),
    Case("an ordinary change note is nothing", "change_note", "修订第三条，补充申报材料清单"),
    Case("an issuing organ is nothing", "issuer", "济南市发展和改革委员会"),
    Case("a mark in the short title (WeChat title, Weibo heading, SMS)", "short_title", "机密★ 工作要点",
         [mark("short_title")]),
    Case("an ordinary short title is nothing", "short_title", "2025年政务公开工作要点"),
    Case("a mark in a related title", "related", "关于有关事项的通知（机密）", [mark("related[0].title")]),
    # -- internal-only wording inside a sentence (hold) -------------------------------------------
    Case("机密 inside a sentence", "body", "本通知涉及机密事项，请妥善处理。", [wording("body")]),
    Case("内部资料 inside a sentence", "body", "此件为内部资料，仅供参考。", [wording("body")]),
    Case("请勿外传 inside a sentence", "summary", "会议材料请勿外传。", [wording("summary")]),
    Case("绝密 split by a zero-width joiner inside a sentence", "body", "绝\u200d密材料不得复制。", [wording("body")]),
    # -- legitimate uses of the vocabulary --------------------------------------------------------
    Case("保守国家秘密 in a secrecy-law notice: a warning, published", "body",
         "<p>各单位要严格遵守保密法，保守国家秘密。</p>", [term("body")]),
    Case("the three levels as the secrecy law lists them: warnings, not held", "body",
         "国家秘密的密级分为绝密、机密、秘密三级。", [term("body"), term("body")]),
    Case("the three levels quoted", "body", "密级分为“绝密”“机密”“秘密”。", [term("body")]),
    Case("机密级 named in running text", "body", "属于机密级的文件按规定管理。", [term("body")]),
    Case("bare 秘密 in a sentence is an ordinary word: a warning", "summary", "揭开科技创新的秘密。", [term("summary")]),
    Case("机密性 (information security) is nothing", "body", "保障信息系统的机密性、完整性和可用性。"),
    Case("保密 is not a mark", "title", "关于加强保密工作的通知"),
    Case("内部审计 and 内部控制 are ordinary words", "body", "加强内部审计和内部控制。"),
    Case("a bare 内部 in a table cell is not a mark", "body", "<table><tr><td>审计方式</td><td>内部</td></tr></table>"),
    Case("star ratings are not marks", "body", "服务评价：★★★★★"),
    # -- ID numbers (block) ----------------------------------------------------------------------
    Case("ID number in the body", "body", f"申请人身份证号{ID}。", [id_number("body")], ID),
    Case("ID number written in groups with spaces", "body", "身份证号 110105 19491231 002X", [id_number("body")], ID),
    Case("ID number in full-width characters", "body", "身份证号１１０１０５１９４９１２３１００２Ｘ", [id_number("body")], ID),
    Case("ID number split by <br>", "body", "<p>身份证号：110105194912<br>31002X</p>", [id_number("body")], ID),
    Case("ID number split by inline tags", "body", "<p>身份证号：<span>1101051949</span><strong>12310</strong>02X</p>",
         [id_number("body")], ID),
    Case("ID number in an attachment URL", "attachment_url", f"{SITE}/files/{ID}.pdf", [id_number("attachments[0].url")], ID),
    Case("ID number in a link href", "body", f'<p><a href="{SITE}/q?sfz={ID}">查询</a></p>', [id_number("body a[href]")], ID),
    Case("ID number in an image alt", "body", f'<p><img src="{SITE}/a.png" alt="身份证 {ID}"></p>', [id_number("body img[alt]")], ID),
    Case("ID number in an attachment name", "attachment_name", f"{ID}.pdf", [id_number("attachments[0].name")], ID),
    Case("a credit code labelled as such is not an ID number", "body", f"统一社会信用代码：{ID}"),
    Case("a wrong check digit is not an ID number", "body", "号码110105194912310021"),
    Case("an impossible birth date is not an ID number", "body", "号码110105194913310021"),
    Case("a 索引号 is public", "body", "索引号：11370100004188591X/2025-00001"),
    Case("a credit code with letters is public", "body", "供水单位：91370100MA3DEMW017"),
    # -- mobile numbers (hold) -------------------------------------------------------------------
    Case("mobile number", "body", "联系人手机13812345678。", [mobile("body")], "13812345678"),
    Case("mobile number with spaces", "body", "手机 138 1234 5678", [mobile("body")], "13812345678"),
    Case("mobile number with dashes", "body", "手机：138-1234-5678", [mobile("body")], "13812345678"),
    Case("mobile number with em dashes", "body", "手机：138—1234—5678", [mobile("body")], "13812345678"),
    Case("mobile number after +86", "body", "手机：+86 138 1234 5678", [mobile("body")], "13812345678"),
    Case("mobile number after 0086", "body", "手机：0086-13812345678", [mobile("body")], "13812345678"),
    Case("mobile number in full-width characters with ＋86", "body", "手机：＋８６１３８１２３４５６７８", [mobile("body")], "13812345678"),
    Case("mobile number split by <br>", "body", "<p>手机：138<br>1234 5678</p>", [mobile("body")], "13812345678"),
    Case("mobile number split by inline tags", "body", "<p>手机：1381<b>234</b>5678</p>", [mobile("body")], "13812345678"),
    Case("mobile number with zero-width spaces", "body", "手机：138\u200b1234\u200b5678", [mobile("body")], "13812345678"),
    Case("mobile number in a link title", "body", f'<p><a href="{SITE}/" title="联系人13812345678">联系我们</a></p>',
         [mobile("body a[title]")], "13812345678"),
    Case("mobile number in the publisher", "publisher", "济南市某局（联系人13812345678）", [mobile("publisher")], "13812345678"),
    Case("mobile number in a related title", "related", "王敏13812345678的答复", [mobile("related[0].title")], "13812345678"),
    Case("mobile number in a change note", "change_note", "联系人13812345678已更正", [mobile("change_note")], "13812345678"),
    Case("ID number in a registration number field", "normative_no", ID, [id_number("normative_no")], ID),
    Case("a registration number (登记编号) is public", "normative_no", "SDPR-2025-0010001"),
    Case("mobile number in a keyword", "keyword", "联系13812345678", [mobile("keywords[0]")], "13812345678"),
    Case("mobile number in the summary", "summary", "咨询电话13812345678", [mobile("summary")], "13812345678"),
    Case("mobile number as a file name in an attachment URL", "attachment_url", f"{SITE}/files/13812345678.pdf",
         [mobile("attachments[0].url")], "13812345678"),
    Case("office number with area code is not a mobile", "body", "联系电话：0531-51707772"),
    Case("short office number is not a mobile", "body", "联系电话：0531-12345"),
    Case("the 12345 hotline is not a mobile", "body", "请拨打12345政务服务便民热线。"),
    Case("dates are not numbers to mask", "body", "实施时间为2025-03-04至2025.12.31。"),
    Case("already masked forms pass", "body", "联系电话138****1234，身份证号35*************123。"),
    Case("digits glued to letters are a code, not a mobile", "body", "项目编号ABC13812345678"),
    Case("numbers in separate paragraphs do not join", "body", "<p>编号138</p><p>12345678</p>"),
    # -- bank cards (hold) -----------------------------------------------------------------------
    Case("bank card number", "body", f"收款账户{CARD}", [card("body")], CARD),
    Case("bank card number in groups of four", "body", "卡号 6222 0202 0011 2233 446", [card("body")], CARD),
    Case("bank card number with dashes", "body", "卡号：6228-4800-1234-5671", [card("body", "6228********5671")], CARD16),
    Case("bank card number in full-width digits", "body", "卡号：６２２２０２０２００１１２２３３４４６", [card("body")], CARD),
    Case("bank card number split by <br>", "body", "<p>卡号：62220202<br>00112233446</p>", [card("body")], CARD),
    Case("table cells the plain-text body runs together (as Weibo shows it)", "body",
         "<table><tr><td>6222020200</td><td>112233446</td></tr></table>", [card("body (plain text)")], CARD),
    Case("Luhn-valid id in a link's query string is not a card", "body", f'<p><a href="{SITE}/art?id={CARD}">详情</a></p>'),
    Case("Luhn-valid id in a URL path in the text is not a card", "body", f"详见 {SITE}/art/{CARD16}.html"),
    Case("Luhn-valid id in an attachment URL is not a card", "attachment_url", f"{SITE}/files/{CARD}.pdf"),
    Case("an all-digit credit code is not a card", "body", f"济南市某中心（{CREDIT_DIGITS}）"),
    Case("a row of four-digit figures is not a card", "body", "各年度数量：1200 1350 1000 1600 1800"),
    Case("one repeated digit is not a card", "body", "编号0000000000000000"),
]


def publication(case: Case) -> Publication:
    changes: dict[str, Any] = {}
    if case.where in ("title", "short_title", "summary", "body", "publisher", "normative_no", "change_note"):
        changes[case.where] = case.value
        if case.where == "normative_no":
            changes["normative"] = True
    elif case.where == "issuer":
        changes["issuers"] = [case.value]
    elif case.where == "keyword":
        changes["keywords"] = [case.value]
    elif case.where == "related":
        changes["related"] = [{"id": "pub_other", "relation": "related", "title": case.value}]
    elif case.where == "attachment_name":
        changes["attachments"] = [{"name": case.value, "url": f"{SITE}/files/a.pdf"}]
    elif case.where == "attachment_url":
        changes["attachments"] = [{"name": "附件1", "url": case.value}]
    fields = PublicationIn.model_validate(sample_policy(**changes))
    return normalize(fields, publication_id="pub_corpus", version=1, department=DEMO_DEPARTMENT["publisher_code"],
                     index=IndexNo(code=DEMO_DEPARTMENT["publisher_code"], year=2025, sequence=1),
                     submitted_at=dt.datetime(2025, 3, 5, tzinfo=dt.UTC))


def stored(pub: Publication, name: str) -> str:
    """The stored value a finding's offsets refer to."""
    if name.startswith("body ("):
        return pub.body_text
    if name.startswith("body"):
        return pub.body_html
    value: Any = pub
    for part in re.findall(r"[a-z_]+|\[\d+\]", name):
        value = value[int(part[1:-1])] if part.startswith("[") else getattr(value, part)
    return str(value)


def test_the_sample_policy_alone_has_no_findings() -> None:
    assert screen(publication(Case("nothing", "none", ""))) == []


@pytest.mark.parametrize("case", CASES, ids=[c.proves for c in CASES])
def test_corpus(case: Case) -> None:
    pub = publication(case)
    findings = screen(pub)
    got = [Want(f.rule, f.severity.value, f.field, f.masked) for f in findings]
    assert got == case.want, [str(f) for f in findings]
    for f in findings:
        span = unicodedata.normalize("NFKC", stored(pub, f.field)[f.start:f.end])
        assert span.strip(), f"{f} points at nothing"
        if case.secret:
            assert case.secret in re.sub(r"[^0-9X]", "", span.upper()), f"{f} does not point at the number: {span!r}"
            shown = json.dumps(f.model_dump(), ensure_ascii=False)
            assert case.secret not in re.sub(r"[^0-9X]", "", shown.upper()), f"{f} repeats the personal data"


def screen_piece_by_piece(pub: Publication) -> list[Finding]:
    """What screen() found before it read all texts at once (issue 16): every piece on its own."""
    findings = [f for piece in pieces(pub) for f in screen_piece(piece)]
    seen = {(f.rule, f.masked) for f in findings if f.field == "body"}
    return findings + [f for f in screen_piece(Piece("body (plain text)", pub.body_text))
                       if f.masked and (f.rule, f.masked) not in seen]


def corpus_publication(**changes: Any) -> Publication:
    fields = PublicationIn.model_validate(sample_policy(**changes))
    return normalize(fields, publication_id="pub_corpus", version=1, department=DEMO_DEPARTMENT["publisher_code"],
                     index=IndexNo(code=DEMO_DEPARTMENT["publisher_code"], year=2025, sequence=1),
                     submitted_at=dt.datetime(2025, 3, 5, tzinfo=dt.UTC))


NEIGHBOURS = [  # pieces next to each other whose ends could run together if screening read them as one text
    ("a credit-code label ending one piece does not excuse an ID number opening the next",
     {"keywords": ["统一社会信用代码：", ID]}),
    ("digits ending one piece and starting the next are two numbers, not a mobile",
     {"keywords": ["编号138", "12345678"]}),
    ("a level alone in one piece and a star opening the next: the level's line mark only",
     {"keywords": ["机密", "★1年"]}),
    ("内 ending one piece and 部资料 the next are no wording", {"title": "关于有关事项的通知内", "summary": "部资料汇编"}),
    ("a URL ending one piece does not make the next piece's card part of it",
     {"attachments": [{"name": "附件1", "url": f"{SITE}/files/a.pdf"}], "keywords": [CARD16]}),
    ("a long body (screened on its own) with a finding, short fields with another",
     {"summary": "会议材料请勿外传。", "body": "<p>各单位要严格遵守保密法，保守国家秘密。</p>" * 40 + "<p>手机13812345678</p>"}),
    ("a long body without a finding", {"body": "<p>各区县人民政府，市政府各部门（单位）：请认真贯彻落实。</p>" * 40}),
    ("findings in several pieces at once",
     {"title": "机密★1年 关于调整有关事项的通知", "summary": "咨询电话13812345678",
      "body": f"<p>各单位要保守国家秘密。</p><p>收款账户{CARD}</p><table><tr><td>6222020200</td><td>112233446</td></tr></table>"}),
]


@pytest.mark.parametrize("changes", [c for _, c in NEIGHBOURS], ids=[n for n, _ in NEIGHBOURS])
def test_screening_all_texts_at_once_finds_what_each_piece_alone_does(changes: dict[str, Any]) -> None:
    pub = corpus_publication(**changes)
    assert screen(pub) == screen_piece_by_piece(pub)


@pytest.mark.parametrize("case", CASES, ids=[c.proves for c in CASES])
def test_screening_all_texts_at_once_matches_piece_by_piece_on_the_corpus(case: Case) -> None:
    pub = publication(case)
    assert screen(pub) == screen_piece_by_piece(pub)


OTHER_CHAR = reading._PLAIN_RUN.pattern.replace("[", "[^", 1).removesuffix("+")  # one character outside a plain run


def old_fold(text: str) -> str:
    """reading.fold's text before it skipped plain runs (issue 16): every character through the fold table."""
    folded = text.translate(reading._FOLDS)
    if reading._FOLDS.uneven.isdisjoint(text):
        return folded
    return "".join(m.group() if m.group(1) is None else reading._fold_char(m.group())
                   for m in re.finditer(f"({OTHER_CHAR})|{reading._PLAIN_RUN.pattern}", text))


def test_fold_skips_only_characters_that_fold_into_themselves() -> None:
    for block in range(0, 0x10000, 256):
        chars = "".join(chr(c) for c in range(block, block + 256) if not 0xD800 <= c < 0xE000)
        for text in (chars, "政务公开" + chars[:64] + "，附件", chars[128:] + "…"):
            assert reading.fold(text).text == old_fold(text), hex(block)
