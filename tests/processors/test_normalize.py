"""normalize builds the record without validating again what the submission's validation already checked: the
result must be exactly what full validation gives, and whatever full validation refuses is still refused alike."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from govcast.samples import sample_interpretation, sample_policy
from processors import normalize as normalizing
from processors.normalize import normalize
from schemas.publication import IndexNo, Publication, PublicationIn

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def _fields(payload: dict[str, Any], **update: Any) -> PublicationIn:
    fields = PublicationIn.model_validate(payload)
    return fields.model_copy(update=update) if update else fields


def _both(fields: PublicationIn, **kwargs: Any) -> tuple[Publication, Publication]:
    """(normalize as it runs, normalize validating the record in full)."""
    args: dict[str, Any] = {"publication_id": "pub_norm0001", "version": 1, "department": fields.publisher_code,
                            "index": IndexNo(code=fields.publisher_code, year=2026, sequence=7, width=5),
                            "submitted_at": NOW, **kwargs}
    fast = normalize(fields, **args)
    original = normalizing._built
    normalizing._built = lambda _fields, _data: None  # type: ignore[assignment]
    try:
        full = normalize(fields, **args)
    finally:
        normalizing._built = original
    return fast, full


def _same(fast: Publication, full: Publication) -> None:
    assert fast == full
    assert fast.model_dump_json() == full.model_dump_json()
    assert fast.model_fields_set == full.model_fields_set
    assert list(fast.__dict__) == list(full.__dict__)


@pytest.mark.parametrize("payload", [
    sample_policy(),
    sample_policy(channels=["portal", "wechat"], keywords=["营商环境", "减税"], publish_at="2027-01-02T09:00:00+08:00"),
    sample_policy(body="第一段。\n\n第二段 <不是标签。", units=[], issuers=["某某市人民政府", "某某市财政局"]),
    sample_policy(channel_overrides={"wechat": {"title": "微信标题"}}, normative=True, normative_no="SDPR-2026-0010001"),
    sample_interpretation("pub_policy00000001"),
])
def test_the_record_is_what_full_validation_makes(payload: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    fields = _fields(payload)
    built: list[Publication | None] = []
    original = normalizing._built
    monkeypatch.setattr(normalizing, "_built", lambda f, d: built.append(original(f, d)) or built[-1])
    fast = normalize(fields, publication_id="pub_norm0001", version=1, department=fields.publisher_code,
                     index=IndexNo(code=fields.publisher_code, year=2026, sequence=7, width=5), submitted_at=NOW)
    assert built and built[0] is fast  # built without the second validation
    monkeypatch.undo()
    fast, full = _both(fields)
    _same(fast, full)
    assert fast.keywords is not fields.keywords  # no container shared with the submission, as validation copies


def test_the_paths_that_need_full_validation_take_it() -> None:
    # channels the submission did not send (configured ones, put in by the publisher) are checked here too
    fields = _fields(sample_policy(), channels=["portal", "portal"])
    fast, full = _both(fields)
    _same(fast, full)
    assert fast.channels == ["portal"]
    # a department with whitespace around it is stripped, as validation strips it
    fast, full = _both(_fields(sample_policy()), department=f" {sample_policy()['publisher_code']} ")
    _same(fast, full)


def test_what_validation_refuses_is_still_refused_alike() -> None:
    cases = [
        (_fields(sample_policy(written_date="2026-05-01")), {}),  # 发布日期 derived from the submission time, before 成文日期
        (_fields(sample_policy(), channels=["Portal"]), {}),  # a channel put in by the publisher that is not a name
        (_fields(sample_policy()), {"publication_id": "pub_\x00"}),  # a control character in a string normalize adds
    ]
    for fields, kwargs in cases:
        with pytest.raises(ValidationError) as fast:
            _both(fields, **kwargs)
        original = normalizing._built
        normalizing._built = lambda _fields, _data: None  # type: ignore[assignment]
        try:
            with pytest.raises(ValidationError) as full:
                _both(fields, **kwargs)
        finally:
            normalizing._built = original
        assert fast.value.errors(include_url=False, include_context=False) == full.value.errors(include_url=False,
                                                                                                include_context=False)
