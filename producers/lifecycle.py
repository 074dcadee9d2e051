"""Validity lifecycle: a publication that repeals, replaces or amends another changes the other's 有效性.

The change is part of the same accepted submission (the same store transaction, outbox rows
beside the new publication's): the target gets its next version with the new 有效性, a change
note naming the later publication, and `lapsed_by`. That version travels to the channels of
the target that keep a current copy (portal page and feed, disclosure records, the push
channel which tells the businesses it reached); WeChat and Weibo posts are history and are
not posted again. `amends` leaves the target in force as 已修改: the same kind of next version (with the
amending file's link) tells the portal, disclosure, hotline and the businesses that received it; a target
already amended may be amended again, repealed or replaced later.
A publication whose 有效期至 (expiry_date) has passed lapses the same way, by the pipeline clock
(`expire`, run by the host's timer): 失效, and the same notices, without a replacement.
A revision of a repealed or replaced publication keeps that 有效性 while the later publication
stands (`kept_lapse`): its owner fixes a typo, it does not undo another decision.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from adapters import channels as channels_registry
from persistence import audit, expiries
from persistence.store import Principal, StatusStore
from processors.bus import Outbound
from producers.errors import Conflict, FieldError
from schemas.publication import Lapse, Publication, RelatedRef, Relation, Validity

CST = dt.timezone(dt.timedelta(hours=8), "CST")
LAPSING: dict[Relation, Validity] = {Relation.repeals: Validity.repealed, Relation.replaces: Validity.expired,
                                     Relation.amends: Validity.amended}


def current_copy_channels() -> list[str]:
    """Channels whose copy is kept current (capability follows_validity); the others (WeChat, Weibo) posted once."""
    return [spec.name for spec in channels_registry.specs() if spec.capabilities.follows_validity]
VERB = {Validity.repealed: "废止", Validity.expired: "替代", Validity.amended: "修改"}


def lapse_errors(store: StatusStore, conn: Connection, related: list[RelatedRef], department: str) -> list[FieldError]:
    """A department repeals, replaces or amends only its own publications (the owner revises its own record)."""
    errors = []
    for i, ref in enumerate(related):
        if ref.relation in LAPSING and ref.id:
            row = store.publication_row(ref.id, conn)
            if row is not None and row.department != department:
                errors.append(FieldError(
                    f"body.related.{i}.relation",
                    f"{ref.relation.value} changes the 有效性 of {ref.id}, a publication of another department; "
                    "that department revises its own record (validity) — relate to it with \"related\" instead"))
    return errors


def lapsed_copy(target: Publication, by: Publication, by_url: str, validity: Validity, now: dt.datetime) -> Publication:
    """The target's next version: the new 有效性, why (change note) and which publication did it."""
    name = f"《{by.title}》" + (f"（{by.doc_no}）" if by.doc_no else "")
    return target.model_copy(update={
        "version": target.version + 1,
        "validity": validity,
        "change_note": f"已被{name}{VERB[validity]}"[:200],
        "lapsed_by": Lapse(by_id=by.id, by_title=by.title, by_doc_no=by.doc_no, by_url=by_url),
        "submitted_at": now,
        "publish_at": None,
    })


def kept_lapse(store: StatusStore, conn: Connection, current: Publication, revision: Publication,
               *, validity_sent: bool) -> Publication:
    """`revision` with the 有效性 and `lapsed_by` of `current` when another publication that still stands
    repealed, replaced or amended it; Conflict when the revision explicitly sends another 有效性 (except
    for 已修改: the document is in force and the department may say otherwise). A lapse by expiry, or by
    a publication since retracted, is the department's own to change."""
    lapse = current.lapsed_by
    if lapse is None or not lapse.by_id or current.validity is Validity.valid:
        return revision
    by = store.publication_row(lapse.by_id, conn)
    if by is None or by.retracted:
        return revision
    if validity_sent and revision.validity is not current.validity and current.validity is Validity.amended:
        return revision  # amended is still in force: the department may consolidate (有效) or lapse it itself
    if validity_sent and revision.validity is not current.validity:
        name = f"《{lapse.by_title}》" + (f"（{lapse.by_doc_no}）" if lapse.by_doc_no else "")
        raise Conflict(
            f"{current.id} was {VERB.get(current.validity, current.validity.value)} by {lapse.by_id}; a revision does not change that",
            [FieldError("body.validity", f"is {current.validity.value} since {name} ({lapse.by_id}); send "
                        f"{current.validity.value} or leave it out (retracting {lapse.by_id} restores the department's say)")])
    return revision.model_copy(update={"validity": current.validity, "lapsed_by": lapse})


def lapse_targets(
    store: StatusStore,
    conn: Connection,
    principal: Principal,
    pub: Publication,
    pub_url: str,
    now: dt.datetime,
    message: Callable[[Publication], Outbound],
) -> list[Outbound]:
    """Record the next version of every publication `pub` repeals, replaces or amends; their bus messages.

    Runs inside the caller's transaction. A target no longer in force, retracted or not (yet) in the
    store (an external reference) is left alone; an amended one may lapse or be amended again.
    """
    out: list[Outbound] = []
    for ref in pub.related:
        validity = LAPSING.get(ref.relation)
        if validity is None or not ref.id:
            continue
        row = store.publication_row(ref.id, conn)
        if row is None or row.retracted or row.department != pub.department:
            continue
        target = Publication.model_validate_json(row.doc)
        if not target.validity.in_force or (target.lapsed_by is not None and target.lapsed_by.by_id == pub.id):
            continue  # lapsed already, or this publication's own revision amending it again
        lapsed = _recorded(store, conn, row, lapsed_copy(target, pub, pub_url, validity, now))
        if lapsed is not None:
            audit.record(conn, principal, "publication.lapse", lapsed.id,
                         {"version": lapsed.version, "validity": validity.value, "by": pub.id})
            out.append(message(lapsed))
    return out


def expire(store: StatusStore, conn: Connection, now: dt.datetime, message: Callable[[Publication], Outbound]) -> list[Outbound]:
    """Publications past their 有效期至 (Beijing date of `now`) get their 失效 version; their bus messages."""
    today = now.astimezone(CST).date()
    out: list[Outbound] = []
    for publication_id in expiries.due(conn, today):
        expiries.drop(conn, publication_id)
        row = store.publication_row(publication_id, conn)
        if row is None or row.retracted:
            continue
        target = Publication.model_validate_json(row.doc)
        if not target.validity.in_force or target.expiry_date is None or target.expiry_date >= today:
            continue  # revised meanwhile: its current row decides
        lapsed = _recorded(store, conn, row, target.model_copy(update={
            "version": target.version + 1, "validity": Validity.expired, "lapsed_by": Lapse(),
            "change_note": f"有效期至{target.expiry_date.isoformat()}，已到期失效", "submitted_at": now, "publish_at": None}))
        if lapsed is not None:
            audit.record(conn, None, "publication.expire", lapsed.id, {"version": lapsed.version, "expired": str(target.expiry_date)})
            out.append(message(lapsed))
    return out


def _recorded(store: StatusStore, conn: Connection, row: Any, lapsed: Publication) -> Publication | None:
    """Store the lapsed version for the channels that keep a current copy; None when there are none or it lost a race."""
    channels = [c for c in json.loads(row.channels) if c in current_copy_channels()]
    lapsed = lapsed.model_copy(update={"channels": channels or None})
    if not channels or not store.compare_and_set_publication(conn, lapsed, "pending", channels, expected_version=row.version):
        return None
    expiries.drop(conn, lapsed.id)
    return lapsed

