"""Submit, revise and retract: what govcast accepts, and how it keeps nothing half-done.

Independent of FastAPI: the API, the CLI (`govcast demo`) and tests call
`Publisher` directly. Every accepted change is ONE store transaction
(`Publisher.transaction`): idempotency lookup, checks, index allocation, the
publication row, the idempotency answer, and the bus message as an outbox row
(processors.outbox). It commits whole or not at all: a full disk or a crash
before the commit keeps nothing (no row, no 索引号 consumed, no message); after
the commit the relay puts the message on the bus, at the latest after a restart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection

from adapters import channels as channels_registry
from adapters.common.links import portal_article_url
from adapters.overrides import override_problems
from persistence import audit, expiries
from persistence.engine import at_batch_end, reading
from persistence.group_commit import GATHER_SECONDS, GroupCommitter, Staged, Unsaved
from persistence.operations import record_action
from persistence.store import Principal, StatusStore
from processors import wire
from processors.bus import Bus, Outbound
from processors.normalize import normalize
from processors.outbox import OutboxRelay, enqueue
from processors.screen import Severity, screen
from processors.stages import RECORDED_STATUS, scheduled_status
from producers import entropy
from producers.auth import TokenCache, actor_of, may_see_department
from producers.committing import committed, committed_async
from producers.errors import Conflict, FieldError, Forbidden, Invalid, NotFound, Unauthorized
from producers.lifecycle import LAPSING, expire, kept_lapse, lapse_errors, lapse_targets
from producers.numbering import (
    INDEX_WIDTH,
    Unnumbered,
    allocated_index,
    allocated_indexes,
    expect_index,
    same_index,
    sent_index,
    stand_in,
)
from schemas.delivery import DeliveryStatus
from schemas.events import EventType, Topics, derived_id, new_event
from schemas.publication import Accepted, IndexNo, Publication, PublicationIn, RelatedRef, RetractIn
from settings import Settings

log = logging.getLogger("govcast.publishing")

SOURCE = "/govcast/api"
COLLECTION = "/v1/publications"
CST = dt.timezone(dt.timedelta(hours=8), "CST")  # Asia/Shanghai has had no DST since 1991
MAX_KEY_LENGTH = 200
PUBLIC_STATES = frozenset({"delivered", "partially_delivered"})
_SENT_FIELDS = set(PublicationIn.model_fields)  # what a department sends: the audit diff of a revision


def publication_path(publication_id: str) -> str:
    return f"{COLLECTION}/{publication_id}"


def request_hash(method: str, path: str, payload: BaseModel) -> str:
    """Fingerprint of a request for Idempotency-Key: method, path and the canonical JSON of the parsed body."""
    canonical = json.dumps(payload.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).hexdigest()


def new_publication_id(principal: Principal, idempotency_key: str | None) -> str:
    """Deterministic for a (principal, key) pair, so a retried submit can never create a second publication."""
    if idempotency_key is None:
        return "pub_" + entropy.token_hex(10)
    return "pub_" + hashlib.sha256(f"{principal.id}|{idempotency_key}".encode()).hexdigest()[:20]


def effective_publish_date(data: PublicationIn, now: dt.datetime) -> dt.date:
    """发布日期 as normalize() will record it: given, else the day of publish_at, else today (Beijing time)."""
    return data.publish_date or (data.publish_at or now).astimezone(CST).date()


def initial_status(data: PublicationIn, now: dt.datetime) -> str:
    return "scheduled" if data.publish_at is not None and data.publish_at > now else "pending"


@dataclass(frozen=True)
class Outcome:
    """The answer to an accepted (or replayed) change: status code and JSON body of `schemas.Accepted`."""

    status_code: int
    body: dict[str, Any]
    replayed: bool = False
    publication: Publication | None = None  # None on replays

    @property
    def accepted(self) -> Accepted:
        return Accepted.model_validate(self.body)

    @property
    def location(self) -> str:
        return str(self.body["links"]["self"])


Work = Callable[[Connection], tuple[Outcome, Outbound]]
Unit = Callable[[Connection], Outcome]  # everything one request writes, run inside the one transaction


class Publisher:
    """Accepts submissions, revisions and retractions for authenticated principals."""

    def __init__(
        self,
        settings: Settings,
        store: StatusStore,
        bus: Bus,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        source: str = SOURCE,
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.source = source
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.relay = OutboxRelay(store, bus)
        self._numbers_late = store.engine.dialect.name == "postgresql"  # see `_write_unnumbered`
        self.tokens = TokenCache(store)  # submissions' principals; checked live in each commit (dead_principals)
        self.writer = GroupCommitter(  # the relay runs once per batch
            store, after_commit=self.relay.after_commit, dead_principals=store.dead_principals,
            refusal=lambda: Unauthorized("the bearer token is not valid (unknown, revoked or expired)"),
            # PostgreSQL: a batch costs a dozen round trips and takes rows every API process shares (索引号 counter, audit
            # chain): under load, a batch waits a few milliseconds for the stragglers of the last one
            gather=GATHER_SECONDS if self._numbers_late else 0.0,
        )

    def start(self) -> None:
        """Relay what a previous process committed but did not relay (and keep relaying in the background)."""
        self.relay.kick()

    def close(self) -> None:
        self.writer.close()
        self.relay.stop()

    # -- the three changes ---------------------------------------------------
    def submit(self, principal: Principal, data: PublicationIn, *, idempotency_key: str | None = None) -> Outcome:
        """A new publication, version 1 (202). Raises Forbidden, Invalid, Conflict, Unavailable."""
        prepare, order = self._submission(principal, data, idempotency_key)
        return self._staged_transaction(prepare, order=order)

    async def submit_async(self, principal: Principal, data: PublicationIn, *, idempotency_key: str | None = None) -> Outcome:
        """`submit` for the event loop: no thread waits for the commit. `principal` may come from `self.tokens`:
        the commit checks its token is still live (Unauthorized, nothing written, when it is not)."""
        prepare, order = self._submission(principal, data, idempotency_key)
        try:
            return await self._staged_transaction_async(prepare, order=order, principal=principal.id)
        except Unauthorized:
            self.tokens.forget(principal.id)
            raise

    def _submission(self, principal: Principal, data: PublicationIn, idempotency_key: str | None) -> tuple[Staged[Outcome], str]:
        """The submission as a staged unit (persistence.group_commit): checks and normalizing first, for the whole
        batch; then, in the finish step, the 索引号 (the department's counter row stays locked from there to the
        commit) and the writes -- or, on PostgreSQL without a key, a number sent or a publication to lapse, the
        writes with a stand-in 索引号 and the real one allocated at the batch's end (producers.numbering)."""
        code = self._publishing_department(principal, data)
        _check_key(idempotency_key)
        now = self._clock()
        pub_id = new_publication_id(principal, idempotency_key)
        # the fingerprint only matters with a key (replay, conflict): not worth the body's JSON dump without one
        req_hash = request_hash("POST", COLLECTION, data) if idempotency_key is not None else ""
        year = effective_publish_date(data, now).year

        def prepare(conn: Connection) -> Callable[[Connection], Outcome] | Unsaved[Outcome]:
            if idempotency_key is not None and (replay := self._replay(conn, principal, idempotency_key, req_hash)):
                return Unsaved(lambda _conn: replay)
            channels, related = self._checked(conn, data, code)
            sent = sent_index(self.store, conn, data, pub_id)
            # PostgreSQL (API processes waiting on one another's counter rows): without a key, a number sent or a
            # publication to lapse, everything the submission writes goes in at the batch's end, and it is numbered
            # there too (producers.numbering), the counter row locked only then. (On SQLite a batch holds the
            # whole store's write lock anyway.)
            lapsing = any(ref.id and ref.relation in LAPSING for ref in related)
            if self._numbers_late and idempotency_key is None and not sent and not lapsing:
                later = stand_in(code, year, INDEX_WIDTH)
                draft = self._normalize(data, channels, related, pub_id=pub_id, version=1, department=code, index=later, now=now)
                return Unsaved(lambda conn: self._write_unnumbered(conn, principal, data, draft, channels, later, now))
            # Normalized before the 索引号 exists (a stand-in of the same department and year): the number is
            # put in by the finish step, so the counter row is not held while the body is sanitized.
            draft = self._normalize(data, channels, related, pub_id=pub_id, version=1, department=code,
                                    index=sent or IndexNo(code=code, year=year, sequence=1, width=INDEX_WIDTH), now=now)
            if not sent:
                expect_index(conn, code, year, pub_id)

            def finish(conn: Connection) -> Outcome:
                if idempotency_key is not None and (replay := self._replay(conn, principal, idempotency_key, req_hash)):
                    return replay  # the same key twice in one batch: the first one's answer
                index = sent or allocated_index(self.store, conn, code, year)
                pub = draft if sent else draft.model_copy(update={"index": index, "index_no": str(index)})
                status = initial_status(data, now)
                # An allocated number is the batch's alone: the row can wait for the batch's one insert. A number the
                # department sent may be another request's too: its row goes in now, so a clash fails this request only.
                self.store.upsert_publication(conn, pub, status, channels, at_batch_end=not sent)
                expiries.schedule(conn, pub, new=True)
                audit.record(conn, principal, "publication.submit", pub.id, {"title": pub.title, "index_no": pub.index_no_text})
                if lapsing and (lapsed := lapse_targets(self.store, conn, principal, pub, self._portal_url(pub), now,
                                                        self._revised_message)):
                    enqueue(conn, lapsed)  # the targets' new versions go out with this publication, or not at all
                outcome = self._answer(pub, status)
                if idempotency_key is not None:
                    self.store.remember_answer(conn, principal.id, idempotency_key, req_hash, outcome.status_code, outcome.body)
                enqueue(conn, [self._submitted(conn, pub, status, now)])
                return outcome

            if idempotency_key is None and not sent and not lapsing:
                # Nothing in this finish step writes but the batch's 索引号 counter (a statement that fails only as the
                # database fails, failing the batch); its rows wait for the batch's end: no savepoint to undo it.
                return Unsaved(finish)
            return finish

        return prepare, code

    def _write_unnumbered(self, conn: Connection, principal: Principal, data: PublicationIn, draft: Publication,
                          channels: list[str], later: IndexNo, now: dt.datetime) -> Outcome:
        """The finish step of a submission numbered at the batch's end: its rows, queued with the stand-in `later`.
        It writes only at the batch's end (publication, expiry, audit and outbox rows): no savepoint around it."""
        status = initial_status(data, now)
        row = self.store.upsert_publication(conn, draft, status, channels, at_batch_end=True)
        expiries.schedule(conn, draft, new=True)
        audited = audit.record(conn, principal, "publication.submit", draft.id,
                               {"title": draft.title, "index_no": draft.index_no_text})
        outcome = self._answer(draft, status)
        message = self._submitted(conn, draft, status, now)
        queued = enqueue(conn, [message])
        unnumbered = Unnumbered(later, draft, outcome.body, [row, audited, *queued], [message.event.data])
        if not at_batch_end(conn, self._number_batch, unnumbered, runs_first=True):
            raise AssertionError("a submission numbered at the batch's end runs inside a group-commit batch")
        return outcome

    def _number_batch(self, conn: Connection, submissions: list[Unnumbered]) -> None:
        """The batch's first flush: the numbers of every submission built with a stand-in, then put in place."""
        by_counter: dict[tuple[str, int], list[Unnumbered]] = {}
        for submission in submissions:
            by_counter.setdefault((submission.stand_in.code, submission.stand_in.year), []).append(submission)
        for (code, year), waiting in sorted(by_counter.items()):  # counter rows locked in one order everywhere
            for submission, index in zip(waiting, allocated_indexes(self.store, conn, code, year, len(waiting)), strict=True):
                submission.number(index)

    def revise(
        self, principal: Principal, publication_id: str, data: PublicationIn, *, idempotency_key: str | None = None
    ) -> Outcome:
        """The next version of the department's own publication: same id and 索引号 (202)."""
        code = self._publishing_department(principal, data)
        _check_key(idempotency_key)
        now = self._clock()
        path = publication_path(publication_id)

        def work(conn: Connection) -> tuple[Outcome, Outbound]:
            row = self._visible_row(conn, principal, publication_id)
            current = Publication.model_validate_json(row.doc)
            if current.retracted:
                raise Conflict(f"publication {publication_id} was retracted; publish a new one instead of revising it")
            if data.index_no and not same_index(IndexNo.parse(data.index_no), current.index):
                raise Conflict(
                    "a revision keeps the 索引号 of the publication",
                    [FieldError("body.index_no", f"is {current.index_no_text} here; leave it out or send it unchanged")],
                )
            channels, related = self._checked(conn, data, code, self_id=publication_id)
            pub = self._normalize(
                data, channels, related, pub_id=publication_id, version=row.version + 1, department=code,
                index=current.index, now=now,
            )
            pub = kept_lapse(self.store, conn, current, pub, validity_sent="validity" in data.model_fields_set)
            status = initial_status(data, now)
            if not self.store.compare_and_set_publication(conn, pub, status, channels, expected_version=row.version):
                raise Conflict("the publication changed while this revision was being saved; fetch it and revise again")
            expiries.schedule(conn, pub)
            audit.record(conn, principal, "publication.revise", pub.id, {"version": pub.version, "changes": _changes(current, pub)})
            if lapsed := lapse_targets(self.store, conn, principal, pub, self._portal_url(pub), now, self._revised_message):
                enqueue(conn, lapsed)  # the targets' new versions go out with this publication, or not at all
            return self._answer(pub, status), self._message(EventType.revised, pub)

        return self._commit(principal, idempotency_key, request_hash("PUT", path, data), work)

    def retract(
        self, principal: Principal, publication_id: str, data: RetractIn, *, idempotency_key: str | None = None
    ) -> Outcome:
        """Withdraw a publication from every channel (202): its owner department or any operator."""
        if principal.kind not in ("department", "operator"):
            raise Forbidden("this token may not retract publications")
        _check_key(idempotency_key)
        path = publication_path(publication_id) + "/retract"

        def work(conn: Connection) -> tuple[Outcome, Outbound]:
            row = self._visible_row(conn, principal, publication_id)
            current = Publication.model_validate_json(row.doc)
            if current.retracted:
                raise Conflict(f"publication {publication_id} is already retracted")
            pub = current.model_copy(update={"retracted": True, "retract_reason": data.reason})
            status = "retracting"
            channels = json.loads(row.channels)
            if not self.store.compare_and_set_publication(conn, pub, status, channels, expected_version=row.version):
                raise Conflict("the publication changed while the retraction was being saved; try again")
            record_action(conn, pub.id, pub.version, status, f"retraction requested: {data.reason}", actor_of(principal))
            audit.record(conn, principal, "publication.retract", pub.id, {"version": pub.version, "reason": data.reason})
            return self._answer(pub, status), self._message(EventType.retracted, pub)

        return self._commit(principal, idempotency_key, request_hash("POST", path, data), work)

    def approve(self, principal: Principal, publication_id: str) -> Outcome:
        """Release a publication that screening held (operators only, after their own review)."""
        if principal.kind != "operator":
            raise Forbidden("only operators release what screening held")
        path = publication_path(publication_id) + "/approve"

        def work(conn: Connection) -> tuple[Outcome, Outbound]:
            row = self._visible_row(conn, principal, publication_id)
            if row.status != "held" or row.retracted:
                raise Conflict(f"publication {publication_id} is {row.status}, not held for review")
            pub = Publication.model_validate_json(row.doc)
            if blocked := [f for f in screen(pub) if f.severity is Severity.block]:
                raise Conflict(
                    "screening blocked this publication (classification mark or ID number): an operator cannot approve it;"
                    " the department must revise it (PUT) or retract it",
                    [FieldError(f.field, f"{f.label}: {f.excerpt}" + (f" (publish {f.masked} instead)" if f.masked else ""))
                     for f in blocked],
                )
            if not self.store.compare_and_set_publication(conn, pub, "pending", json.loads(row.channels),
                                                          expected_version=row.version):
                raise Conflict("the publication changed while it was being approved; fetch it and try again")
            record_action(conn, pub.id, pub.version, "pending", "approved after review of what screening held",
                          actor_of(principal))
            log.info("operator %s approved held publication %s v%d", principal.name, pub.id, pub.version)
            audit.record(conn, principal, "publication.approve", pub.id, {"version": pub.version})
            return self._answer(pub, "pending"), self._message(EventType.approved, pub)

        return self._commit(principal, None, request_hash("POST", path, RetractIn(reason="approve")), work)

    def expire_due(self, now: dt.datetime) -> int:
        """Publications whose 有效期至 passed by `now` (the pipeline clock) become 失效, each in this one
        transaction with its outbox message. Returns how many; a read first, so idle ticks write nothing."""
        with reading(self.store.engine) as conn:
            if not expiries.due(conn, now.astimezone(CST).date()):
                return 0

        def unit(conn: Connection) -> Outcome:
            if lapsed := expire(self.store, conn, now, self._revised_message):
                enqueue(conn, lapsed)
            return Outcome(200, {"expired": [m.key for m in lapsed]})

        return len(self.transaction(unit).body["expired"])

    # -- transaction, idempotency, bus ---------------------------------------
    def _commit(self, principal: Principal, key: str | None, req_hash: str, work: Work, *, order: str = "") -> Outcome:
        return self.transaction(self._unit(principal, key, req_hash, work), order=order)

    def _unit(self, principal: Principal, key: str | None, req_hash: str, work: Work) -> Unit:
        def unit(conn: Connection) -> Outcome:
            if key is not None and (replay := self._replay(conn, principal, key, req_hash)) is not None:
                return replay
            outcome, message = work(conn)
            if key is not None:
                self.store.remember_answer(conn, principal.id, key, req_hash, outcome.status_code, outcome.body)
            enqueue(conn, [message])
            return outcome

        return unit

    def transaction(self, unit: Unit, *, order: str = "") -> Outcome:
        """Run `unit` in one store transaction and commit it: every row it adds (publication, idempotency
        answer, outbox message -- and whatever else a caller adds through `conn`) is kept, or none is.

        Concurrent calls share a transaction (group commit, one flush for many), each in its own
        savepoint; `order` sorts units inside a batch (the department: its 索引号 counter row).
        Returns once committed -- and, on SQLite, relayed to the bus when it is up (on PostgreSQL the relay's
        own thread sends it a few milliseconds later: processors.outbox). Raises Unavailable when
        the store cannot commit (disk full, database down): nothing was kept.
        """
        return committed(lambda: self.writer.run(unit, order=order))

    async def transaction_async(self, unit: Unit, *, order: str = "", principal: str | None = None) -> Outcome:
        """`transaction` awaited on the event loop; `principal`: the token id to check live in the commit."""
        return await committed_async(lambda: self.writer.run_async(unit, order=order, principal=principal))

    def _staged_transaction(self, prepare: Staged[Outcome], *, order: str) -> Outcome:
        """`transaction` for a staged unit (its prepare step returns its finish step)."""
        return committed(lambda: self.writer.run_staged(prepare, order=order))

    async def _staged_transaction_async(self, prepare: Staged[Outcome], *, order: str, principal: str) -> Outcome:
        return await committed_async(lambda: self.writer.run_staged_async(prepare, order=order, principal=principal))

    def _replay(self, conn: Connection, principal: Principal, key: str, req_hash: str) -> Outcome | None:
        stored = self.store.idempotent_answer(conn, principal.id, key)
        if stored is None:
            return None
        stored_hash, status_code, body = stored
        if stored_hash != req_hash:
            raise Conflict(
                "this Idempotency-Key was already used for a different request",
                [FieldError("header.Idempotency-Key", "already used with a different method, path or body; use a new key")],
            )
        return Outcome(status_code, body, replayed=True)

    def _answer(self, pub: Publication, status: str) -> Outcome:
        # `Accepted(...).model_dump(mode="json")`, without building the model (every field is already its JSON type)
        path = publication_path(pub.id)
        body = {"id": pub.id, "version": pub.version, "status": status, "index_no": pub.index_no_text,
                "links": {"self": path, "status": path}}
        return Outcome(202, body, publication=pub)

    def _portal_url(self, pub: Publication) -> str:
        return portal_article_url(pub, self.settings.base_url, self.settings.categories)

    def _revised_message(self, pub: Publication) -> Outbound:
        return self._message(EventType.revised, pub)

    def _message(self, event_type: str, pub: Publication, **extensions: str) -> Outbound:
        # The JSON form through the wire cache: this process's pipeline (embedded mode) then decodes the event to this
        # very model instead of validating the publication again.
        return Outbound(topic=Topics.publications, key=pub.id,
                        event=new_event(event_type, self.source, pub.id, wire.publications.dumped(pub), **extensions))

    def _submitted(self, conn: Connection, pub: Publication, status: str, now: dt.datetime) -> Outbound:
        """The event of a new submission. One that waits for its publish_at also gets its `scheduled` timeline entry
        here, in the submission's transaction, under the id the plan would give it; the event says so
        (stages.RECORDED_STATUS), and the plan adds nothing (no status message, no projection) until its release."""
        if status != DeliveryStatus.scheduled.value:
            return self._message(EventType.submitted, pub)
        message = self._message(EventType.submitted, pub, **{RECORDED_STATUS: status})
        self.store.record_timeline(conn, [(derived_id(message.event.id, 0), scheduled_status(pub, now, carried=False))],
                                  at_batch_end=True)
        return message

    # -- checks ---------------------------------------------------------------
    def _publishing_department(self, principal: Principal, data: PublicationIn) -> str:
        if principal.kind != "department" or not principal.publisher_code:
            raise Forbidden("only department tokens publish and revise; operators review, retry and retract")
        if data.publisher_code != principal.publisher_code:
            raise Forbidden(
                "a department publishes under its own publisher code",
                [FieldError("body.publisher_code", f"must be {principal.publisher_code}, the publisher code of this token")],
            )
        return principal.publisher_code

    def _visible_row(self, conn: Connection, principal: Principal, publication_id: str) -> Any:
        row = self.store.publication_row(publication_id, conn)
        if row is None or not may_see_department(principal, row.department):
            raise NotFound(f"no publication {publication_id!r}")  # the same answer for others' ids: existence does not leak
        return row

    def _checked(
        self, conn: Connection, data: PublicationIn, department: str, *, self_id: str | None = None
    ) -> tuple[list[str], list[RelatedRef]]:
        """Checks against configuration and stored state, all reported at once; the effective channels and resolved refs."""
        errors: list[FieldError] = []
        configured = self.settings.channels
        if data.channels is None:
            channels = [c for c in configured if channels_registry.spec_of(c).applies(data)]
            if not channels:
                errors.append(FieldError("body.channels", "no channel is configured on this server; name the channels"))
        else:
            channels = list(data.channels)
            errors += [
                FieldError(f"body.channels.{i}", f"channel {c!r} is not configured here; configured: {', '.join(configured)}")
                for i, c in enumerate(channels)
                if c not in configured
            ]
        for channel in channels:
            if channel in configured and (check := channels_registry.spec_of(channel).check) is not None:
                errors += [FieldError(path, message) for path, message in check(data, self.settings)]
        errors += [FieldError(path, message) for path, message in
                   override_problems(data, channels, channels_registry.spec_of, channels_registry.names())]
        if data.category not in self.settings.categories:
            errors.append(FieldError(
                "body.category", f"unknown 组配分类 {data.category!r}; expected one of {', '.join(self.settings.categories)}"
            ))
        related = self._resolve_related(conn, data.related, department, self_id, errors)
        errors += lapse_errors(self.store, conn, related, department)
        if errors:
            raise Invalid(f"{len(errors)} field(s) failed validation: " + ", ".join(e.field for e in errors), errors)
        return channels, related

    def _resolve_related(
        self, conn: Connection, refs: list[RelatedRef], department: str, self_id: str | None, errors: list[FieldError]
    ) -> list[RelatedRef]:
        resolved = []
        for i, ref in enumerate(refs):
            if ref.id:
                row = self.store.publication_row(ref.id, conn)
                if row is not None and not _linkable(row, department):
                    row = None  # another department's unpublished item: answered exactly like an unknown id
                if row is None or ref.id == self_id:
                    why = "a publication cannot relate to itself" if row is not None else f"no publication with id {ref.id!r}"
                    errors.append(FieldError(f"body.related.{i}.id", why))
                    resolved.append(ref)
                    continue
                if ref.index_no and ref.index_no != row.index_no:
                    errors.append(FieldError(f"body.related.{i}.index_no", f"publication {ref.id} has 索引号 {row.index_no}"))
                resolved.append(ref.model_copy(update={"index_no": row.index_no, "title": row.title}))
            elif ref.index_no:
                row = self.store.find_by_index_no(ref.index_no, conn)
                # 索引号 are sequential, hence guessable: only the department's own or already
                # public records resolve; anything else stays an external reference as sent.
                if row is not None and row.id != self_id and _linkable(row, department):
                    resolved.append(ref.model_copy(update={"id": row.id, "title": row.title}))
                else:
                    resolved.append(ref)
        return resolved

    def _normalize(
        self,
        data: PublicationIn,
        channels: list[str],
        related: list[RelatedRef],
        *,
        pub_id: str,
        version: int,
        department: str,
        index: IndexNo,
        now: dt.datetime,
    ) -> Publication:
        fields = data.model_copy(update={"channels": list(channels), "related": related})
        return normalize(fields, publication_id=pub_id, version=version, department=department, index=index, submitted_at=now)


def _changes(old: Publication, new: Publication) -> dict[str, Any]:
    """The revision's diff for the audit trail: department-sent fields only."""
    return audit.diff(old.model_dump(mode="json", include=_SENT_FIELDS), new.model_dump(mode="json", include=_SENT_FIELDS))


def _linkable(row: Any, department: str) -> bool:
    """A department may relate to its own items and to items already public (their title is on the portal)."""
    return bool(row.department == department or (row.status in PUBLIC_STATES and not row.retracted))


def _check_key(key: str | None) -> None:
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise Invalid("bad Idempotency-Key", [FieldError("header.Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} characters")])
