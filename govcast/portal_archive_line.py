"""One line of an earlier portal's archive (`govcast portal import`): checked like a submission, made a publication.

Used by the worker processes of govcast.portal_import_work, which parse the lines; kept apart from
govcast.portal_import, which starts those workers, so the two do not import each other.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlsplit

from pydantic import ValidationError

from adapters.common.views import CST
from govcast.subscribers_import import reason_of
from processors.normalize import normalize
from schemas.publication import IndexNo, Publication, PublicationIn

ARCHIVE_REVIEWER = "原网站已发布（存档导入）"
_NOT_ACCEPTED = ("review", "channels", "targeting", "publish_at", "units", "disclosure_matter")


class BadLine(ValueError):
    pass


def archive_id(index_no: str) -> str:
    """A stable id from the 索引号, so the same line always lands on the same row and page."""
    return "arc_" + index_no.replace("/", "_")


def parse_line(text: str) -> tuple[PublicationIn, str | None]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadLine(f"not JSON: {exc.msg} at column {exc.colno}") from exc
    if not isinstance(raw, dict):
        raise BadLine("expected a JSON object")
    for name in ("index_no", "publish_date"):
        if not raw.get(name):
            raise BadLine(f"{name}: required for an archived item (the original value is kept)")
    if given := [name for name in _NOT_ACCEPTED if name in raw]:
        raise BadLine(f"{', '.join(given)}: not part of an archive line")
    original = raw.pop("original_url", None)
    raw.pop("id", None)
    if original is not None and (not isinstance(original, str) or not urlsplit(original).path.startswith("/")):
        raise BadLine("original_url: must be an absolute URL or a path starting with '/'")
    day = str(raw["publish_date"])
    raw["review"] = [{"stage": stage, "reviewer": ARCHIVE_REVIEWER, "at": f"{day}T00:00:00+08:00"}
                     for stage in ("初审", "复审", "终审")]
    try:
        return PublicationIn.model_validate(raw), original
    except ValidationError as exc:
        raise BadLine(reason_of(exc)) from exc


def to_publication(fields: PublicationIn) -> Publication:
    index = IndexNo.parse(fields.index_no or "")
    assert fields.publish_date is not None
    moment = dt.datetime.combine(fields.publish_date, dt.time(), CST)  # no submission time: the day it appeared
    return normalize(fields, publication_id=archive_id(str(index)), version=1, department=fields.publisher_code,
                     index=index, submitted_at=moment)
