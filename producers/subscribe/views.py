"""What one business sees: its message center (pushes it received) and "policies for me" (published policies in
force that match its profile by the push's own targeting rules). Read-only, one business at a time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import Engine, and_, select

from adapters.push.targeting import TargetIndex, why
from persistence.push_recipients import recipients
from persistence.tables import deliveries, publications
from producers.subscribe.center import CHANNEL_NAMES
from schemas.publication import Kind, Publication, Relation, Validity
from schemas.subscriber import Subscriber

SHOWN_STATES = ("delivered", "sent")  # pushes that left govcast for this business


@dataclass
class PolicyItem:
    id: str
    title: str
    publisher: str
    doc_no: str
    url: str
    published: str
    in_force: bool
    validity_text: str
    reason: str
    interpretations: list[tuple[str, str]] = field(default_factory=list)
    at: dt.datetime | None = None  # message center: when it was pushed
    channel_name: str = ""
    pushed: bool = False


def _validity(pub: Publication) -> tuple[bool, str]:
    if pub.retracted:
        return False, "已撤回：本政策已不再公开"
    if not pub.validity.in_force:
        return False, pub.validity.phrase
    if pub.validity is Validity.amended:
        return True, "现行有效（已修改）"
    return True, "现行有效"


class BusinessViews:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _published(self, kind: Kind) -> list[tuple[Publication, str]]:
        """(publication, portal URL) of every item of `kind` on the portal now."""
        query = (select(publications.c.doc, deliveries.c.url)
                 .join(deliveries, and_(deliveries.c.publication_id == publications.c.id, deliveries.c.channel == "portal"))
                 .where(publications.c.kind == kind.value, deliveries.c.status == "delivered", deliveries.c.url.is_not(None))
                 .order_by(publications.c.created_at.desc()))
        with self.engine.connect() as conn:
            return [(Publication.model_validate_json(doc), url) for doc, url in conn.execute(query).all()]

    def _interpretations(self) -> dict[str, list[tuple[str, str]]]:
        """Policy id -> (portal URL, title) of its published interpretations."""
        found: dict[str, list[tuple[str, str]]] = {}
        for pub, url in self._published(Kind.interpretation):
            if pub.retracted:
                continue
            for ref in pub.related:
                if ref.relation is Relation.interprets and ref.id:
                    found.setdefault(ref.id, []).append((url, pub.title))
        return found

    def _item(self, pub: Publication, url: str, sub: Subscriber, explained: dict[str, list[tuple[str, str]]]) -> PolicyItem:
        in_force, text = _validity(pub)
        return PolicyItem(id=pub.id, title=pub.title, publisher=pub.publisher, doc_no=pub.doc_no, url=url,
                          published=(pub.publish_date or pub.submitted_at.date()).isoformat(), in_force=in_force,
                          validity_text=text, reason=why(sub, pub.targeting), interpretations=explained.get(pub.id, []))

    def messages(self, sub: Subscriber, limit: int = 100) -> list[PolicyItem]:
        """The policies pushed to `sub`, newest first (one entry per publication: its latest push)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(recipients.c.publication_id, recipients.c.channel, recipients.c.updated_at)
                                .where(recipients.c.credit_code == sub.credit_code, recipients.c.status.in_(SHOWN_STATES))
                                .order_by(recipients.c.updated_at.desc()).limit(limit)).all()
            ids = list(dict.fromkeys(r.publication_id for r in rows))
            docs = dict(conn.execute(select(publications.c.id, publications.c.doc).where(publications.c.id.in_(ids))).all())
            urls = dict(conn.execute(select(deliveries.c.publication_id, deliveries.c.url).where(
                deliveries.c.publication_id.in_(ids), deliveries.c.channel == "portal")).all())
        explained = self._interpretations() if ids else {}
        out, seen = [], set()
        for row in rows:
            if row.publication_id in seen or row.publication_id not in docs:
                continue
            seen.add(row.publication_id)
            pub = Publication.model_validate_json(docs[row.publication_id])
            item = self._item(pub, urls.get(row.publication_id) or "", sub, explained)
            item.at, item.channel_name = row.updated_at, CHANNEL_NAMES.get(row.channel or "", row.channel or "")
            out.append(item)
        return out

    def policies_for(self, sub: Subscriber) -> list[PolicyItem]:
        """Published policies in force whose targeting matches `sub` (the push feature's targeting rules), newest first."""
        index = TargetIndex([(sub.credit_code, sub.region, sub.industry, sub.scale, "|".join(sub.qualifications),
                              "|".join(sub.topics))])
        explained = self._interpretations()
        with self.engine.connect() as conn:
            pushed = set(conn.execute(select(recipients.c.publication_id).where(
                recipients.c.credit_code == sub.credit_code, recipients.c.status.in_(SHOWN_STATES))).scalars())
        out = []
        for pub, url in self._published(Kind.policy):
            if pub.retracted or not pub.validity.in_force or not index.match(pub.targeting):
                continue
            item = self._item(pub, url, sub, explained)
            item.pushed = pub.id in pushed
            item.reason = item.reason.replace("推送原因", "匹配原因", 1)
            out.append(item)
        return out
