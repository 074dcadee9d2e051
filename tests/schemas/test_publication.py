"""The shared vocabulary enforces the disclosure rules of domain.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from govcast.samples import sample_interpretation, sample_policy
from schemas import IndexNo, PublicationIn
from schemas.export import export
from schemas.vocab import credit_code_checksum_ok


@pytest.mark.parametrize(
    "text",
    ["1137010000418859XL/2024-00697", "11370100MB2866908X/2025-00037", "11370105MB279780XD/2024-6580124",
     "1137018100420588XX-A/2025-6667894", "000014349/2017-00047"],
)
def test_index_numbers_from_real_sites_round_trip(text: str) -> None:
    index = IndexNo.parse(text)
    assert str(index) == text
    assert index.year in (2017, 2024, 2025)


@pytest.mark.parametrize("text", ["1137010000418859XL-2024-00697", "1137010000418859XL/24-1", "/2024-00001", "abc/2024-1"])
def test_malformed_index_numbers_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="索引号"):
        IndexNo.parse(text)


@pytest.mark.parametrize("doc_no", ["鲁政办发〔2024〕2号", "国办发〔2017〕47号", "济天政办发〔2024〕5号", ""])
def test_valid_document_numbers(doc_no: str) -> None:
    assert PublicationIn.model_validate(sample_policy(doc_no=doc_no)).doc_no == doc_no


@pytest.mark.parametrize(
    "doc_no", ["鲁政办发[2024]2号", "鲁政办发(2024)2号", "鲁政办发〔2024〕02号", "鲁政办发〔2024〕第2号", "〔2024〕2号"]
)
def test_document_numbers_must_use_the_official_form(doc_no: str) -> None:
    with pytest.raises(ValidationError, match="发文字号"):
        PublicationIn.model_validate(sample_policy(doc_no=doc_no))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"theme": "综合政务\\不存在的二级"}, "second level"),
        ({"theme": "天气预报"}, "22 State Council themes"),
        ({"review": sample_policy()["review"][:2]}, "终审"),
        ({"publisher_code": "12345"}, "publisher_code"),
        ({"index_no": "11370100MB2866908X/2025-00001"}, "start with the publisher_code"),
        ({"publish_date": "2025-03-01"}, "cannot be before"),
        ({"publish_at": "2025-03-05T09:00:00"}, "timezone"),
        ({"channels": []}, "at least one channel"),
        ({"title": "关于\x00通知"}, "control characters"),
        ({"keywords": ["政务\x1b公开"]}, "control characters"),
    ],
)
def test_rules_of_the_disclosure_header(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PublicationIn.model_validate(sample_policy(**changes))


def test_an_interpretation_must_name_its_policy() -> None:
    payload = sample_interpretation("pub_x")
    payload["related"] = []
    with pytest.raises(ValidationError, match="interprets"):
        PublicationIn.model_validate(payload)


def test_credit_code_checksum() -> None:
    assert credit_code_checksum_ok("11370100004188591X")
    assert not credit_code_checksum_ok("11370100004188591Y")


def test_json_schema_export_describes_the_public_fields(tmp_path: Path) -> None:
    written = {p.name for p in export(tmp_path)}
    assert "PublicationIn.schema.json" in written and "DeliveryTask.schema.json" in written
    schema = json.loads((tmp_path / "PublicationIn.schema.json").read_text())
    assert {"title", "body", "kind", "category", "theme", "publisher_code", "review"} <= set(schema["required"])
    assert schema["properties"]["validity"]["default"] == "有效"
