"""What the API answers on reads: one publication with where every copy stands, and filtered lists.

Independent of FastAPI (the console can use the same views). A department
sees only its own publications; another department's id is answered exactly
like an unknown one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel

from persistence.store import ListFilter, Principal, StatusStore
from processors.screen import screen
from producers.auth import may_see_department
from producers.errors import FieldError, Forbidden, Invalid, NotFound
from producers.publishing import COLLECTION, CST, publication_path
from schemas.publication import Publication, PublicationFields, PublicationOut

_FIELDS = set(PublicationFields.model_fields)


class PublicationSummary(BaseModel):
    id: str
    version: int
    title: str
    kind: str
    status: str
    index_no: str
    category: str
    department: str
    created_at: dt.datetime
    links: dict[str, str]


class PublicationPage(BaseModel):
    items: list[PublicationSummary]
    total: int
    page: int
    per_page: int
    links: dict[str, str]


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def publication_out(store: StatusStore, principal: Principal, publication_id: str) -> PublicationOut:
    row = store.publication_row(publication_id)
    if row is None or not may_see_department(principal, row.department):
        raise NotFound(f"no publication {publication_id!r}")
    pub = Publication.model_validate_json(row.doc)
    deliveries = store.deliveries_of(pub.id)
    links = {"self": publication_path(pub.id)}
    portal = deliveries.get("portal", {}).get("url")
    if portal:
        links["portal"] = portal
    data: dict[str, Any] = pub.model_dump(mode="json", include=_FIELDS)
    data.update(
        id=pub.id, version=pub.version, department=pub.department, index_no=pub.index_no_text, status=row.status,
        submitted_at=pub.submitted_at, retracted=pub.retracted, retract_reason=pub.retract_reason,
        deliveries=deliveries, timeline=store.timeline_of(pub.id), links=links,
        findings=screen(pub),  # of the current version: what held it, or what an operator approved over
    )
    return PublicationOut.model_validate(data)


def parse_bound(text: str | None, field: str, *, upper: bool) -> dt.datetime | None:
    """A `since`/`until` query value: a date (Beijing calendar day; `until` includes the whole day) or a datetime.

    Datetimes without a zone are read as Beijing time. Answers in UTC.
    """
    if not text:
        return None
    if "T" in text:
        text = text.replace(" ", "+")  # an unencoded `+08:00` in a query string arrives as ` 08:00`
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            start = dt.datetime.combine(day + dt.timedelta(days=1 if upper else 0), dt.time(), CST)
            return start.astimezone(dt.UTC)
        moment = dt.datetime.fromisoformat(text)
        return (moment if moment.tzinfo else moment.replace(tzinfo=CST)).astimezone(dt.UTC)
    except ValueError:
        message = "must be a date (2025-03-01) or a datetime (2025-03-01T09:00:00+08:00)"
        raise Invalid(f"bad {field}", [FieldError(f"query.{field}", message)]) from None
    except OverflowError:  # year 1 or 9999 moved across time zones
        raise Invalid(f"bad {field}", [FieldError(f"query.{field}", "is out of range")]) from None


def list_publications(
    store: StatusStore,
    principal: Principal,
    *,
    status: str | None = None,
    channel: str | None = None,
    kind: str | None = None,
    department: str | None = None,
    since: str | None = None,
    until: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> PublicationPage:
    """One page of the publications `principal` may see, newest first."""
    if principal.kind != "operator":
        if principal.kind != "department" or not principal.publisher_code:
            raise Forbidden("only department and operator tokens list publications")
        if department and department != principal.publisher_code:
            raise Forbidden(
                "a department lists only its own publications",
                [FieldError("query.department", "only operators filter by department; leave it out")],
            )
        department = principal.publisher_code
    lower, upper = parse_bound(since, "since", upper=False), parse_bound(until, "until", upper=True)
    flt = ListFilter(
        department=department, status=status, channel=channel, kind=kind, since=lower, until=upper,
        limit=per_page, offset=(page - 1) * per_page,
    )
    total, rows = store.list_publications(flt)
    items = [
        PublicationSummary(
            id=r.id, version=r.version, title=r.title, kind=r.kind, status=r.status, index_no=r.index_no,
            category=r.category, department=r.department, created_at=_utc(r.created_at),
            links={"self": publication_path(r.id)},
        )
        for r in rows
    ]
    params = {"status": status, "channel": channel, "kind": kind, "since": since, "until": until, "per_page": per_page}
    if principal.kind == "operator" and department:
        params["department"] = department

    def link(number: int) -> str:
        query = {k: v for k, v in params.items() if v is not None} | {"page": number}
        return f"{COLLECTION}?{urlencode(query)}"

    links = {"self": link(page)}
    if page * per_page < total:
        links["next"] = link(page + 1)
    if page > 1:
        links["prev"] = link(min(page - 1, max(1, -(-total // per_page))))
    return PublicationPage(items=items, total=total, page=page, per_page=per_page, links=links)
