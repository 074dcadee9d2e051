"""The subscription center's store on both backends: confirmations are stored only as MACs, expire, are used
once and die after five wrong codes; sends are rate-limited per address and per client IP; imported records
are marked imported; deleting a subscription leaves counts and no contact data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from persistence.engine import make_engine
from persistence.selfservice import KEPT_AFTER_EXPIRY, MAX_ATTEMPTS, Outcome, RateLimit, SelfService, confirmations
from persistence.subscribers import SubscriberStore
from schemas.subscriber import Subscriber, SubscriberIn
from tests.push_support import credit_code
from tests.store_backends import BACKENDS, backend_url

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_url(request.param, tmp_path) as found:
        yield found


@pytest.fixture
def service(url: str) -> SelfService:
    return SelfService(SubscriberStore(make_engine(url)), RateLimit(per_address=3, per_ip=5))


def test_a_code_is_stored_only_as_a_mac_and_works_once(service: SelfService) -> None:
    ref, code = service.begin(credit_code(1), "signup", "sms", '{"x": 1}', now=T0)
    assert len(code) == 6 and code.isdigit()
    with service.engine.connect() as conn:
        stored = conn.execute(select(confirmations.c.secret_mac).where(confirmations.c.id == ref)).scalar_one()
        dump = " ".join(str(v) for row in conn.execute(select(confirmations)).all() for v in row)
    assert code not in dump and len(stored) == 64
    first = service.redeem(ref, code, now=T0 + dt.timedelta(minutes=1))
    assert (first.outcome, first.credit_code, first.purpose, first.doc) == (Outcome.confirmed, credit_code(1), "signup", '{"x": 1}')
    assert service.redeem(ref, code, now=T0 + dt.timedelta(minutes=2)).outcome is Outcome.used


@pytest.mark.parametrize(("channel", "valid_for"), [("sms", dt.timedelta(minutes=10)), ("email", dt.timedelta(hours=24))])
def test_confirmations_expire(service: SelfService, channel: str, valid_for: dt.timedelta) -> None:
    ref, secret = service.begin(credit_code(2), "signup", channel, now=T0)
    assert service.redeem(ref, secret, now=T0 + valid_for).outcome is Outcome.expired
    late, secret2 = service.begin(credit_code(2), "signup", channel, now=T0)
    assert service.redeem(late, secret2, now=T0 + valid_for - dt.timedelta(seconds=1)).outcome is Outcome.confirmed


def test_five_wrong_codes_lock_the_confirmation_even_for_the_right_code(service: SelfService) -> None:
    ref, code = service.begin(credit_code(3), "manage", "sms", now=T0)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    lefts = [service.redeem(ref, wrong, now=T0).attempts_left for _ in range(MAX_ATTEMPTS - 1)]
    assert lefts == [4, 3, 2, 1]
    assert service.redeem(ref, wrong, now=T0).outcome is Outcome.locked
    assert service.redeem(ref, code, now=T0).outcome is Outcome.locked
    assert service.redeem("no-such-ref", code, now=T0).outcome is Outcome.unknown


def test_the_requested_record_with_its_contacts_is_gone_once_used_locked_or_long_expired(service: SelfService) -> None:
    """A sign-up carries contacts in clear until confirmed; a used or dead confirmation keeps none, and a sign-up
    nobody confirmed leaves no row at all two days after its link expired."""
    doc = '{"email": "someone@example.test", "mobile": "13900000000"}'

    def stored_doc(ref: str) -> object:
        with service.engine.connect() as conn:
            return conn.execute(select(confirmations.c.doc).where(confirmations.c.id == ref)).scalar()

    used, secret = service.begin(credit_code(4), "signup", "email", doc, now=T0)
    assert stored_doc(used) == doc
    assert service.redeem(used, secret, now=T0).doc == doc, "the confirmation still applies the record"
    assert stored_doc(used) is None and service.redeem(used, secret, now=T0).outcome is Outcome.used
    locked, code = service.begin(credit_code(4), "signup", "sms", doc, now=T0)
    for _ in range(MAX_ATTEMPTS):
        service.redeem(locked, f"{(int(code) + 1) % 10**6:06d}", now=T0)
    assert stored_doc(locked) is None
    ignored, _ = service.begin(credit_code(5), "signup", "email", doc, now=T0)
    later = T0 + dt.timedelta(hours=24) + KEPT_AFTER_EXPIRY
    service.begin(credit_code(6), "manage", "email", now=later)  # any new confirmation sweeps
    assert stored_doc(ignored) == doc, "kept for its expiry message for the grace period"
    service.begin(credit_code(6), "manage", "email", now=later + dt.timedelta(seconds=1))
    with service.engine.connect() as conn:
        left = conn.execute(select(confirmations.c.id).where(confirmations.c.credit_code.in_(
            [credit_code(4), credit_code(5)]))).scalars().all()
    assert left == [], "nothing about a sign-up nobody confirmed stays"


def test_sends_are_limited_per_address_and_per_client_ip(service: SelfService) -> None:
    assert [service.allow_send("a@example.test", "10.0.0.1", T0) for _ in range(4)] == [True, True, True, False]
    assert service.allow_send("A@Example.test ", "10.0.0.2", T0) is False, "the same address, spelled differently"
    assert service.allow_send("b@example.test", "10.0.0.1", T0) is True
    assert service.allow_send("c@example.test", "10.0.0.1", T0) is True
    assert service.allow_send("d@example.test", "10.0.0.1", T0) is False, "five sends from this IP in the hour"
    assert service.allow_send("a@example.test", "10.0.0.3", T0 + dt.timedelta(hours=1, seconds=1)) is True


def _sub(n: int, **changes: object) -> SubscriberIn:
    return SubscriberIn.model_validate({"credit_code": credit_code(n), "name": f"企业{n}", "region": "历下区",
                                        "email": f"biz{n}@example.test", "mobile": "13800000000",
                                        "channels": ["email", "sms"], **changes})


def test_imports_are_marked_imported_and_self_registered_addresses_need_their_confirmation(url: str) -> None:
    store = SubscriberStore(make_engine(url))
    store.upsert_many([_sub(1)], origin="imported")
    imported = store.get(credit_code(1))
    assert imported is not None and imported.origin == "imported" and imported.public()["verification"] == "imported"
    assert [c.value for c in imported.reachable_channels()] == ["email", "sms"]

    mine = Subscriber.model_validate({**_sub(2).model_dump(), "origin": "self", "verified": ["sms"]})
    store.put(mine)
    got = store.get(credit_code(2))
    assert got is not None and [c.value for c in got.reachable_channels()] == ["sms"], "the email is not confirmed yet"
    assert got.public()["verification"] == "self: sms verified"
    assert [row[0] for row in store.index_rows()] == [credit_code(1), credit_code(2)]
    store.put(got.model_copy(update={"paused": True}))
    assert [row[0] for row in store.index_rows()] == [credit_code(1)], "a paused business is matched by nothing"


def test_erasing_keeps_counts_and_nothing_about_the_business(url: str) -> None:
    store = SubscriberStore(make_engine(url))
    service = SelfService(store)
    store.upsert(_sub(5))
    store.record("d1", "p1", 1, credit_code(5), "delivered", channel="email", day="2026-03-02")
    service.record(credit_code(5), "订阅主题已更改")
    service.begin(credit_code(5), "manage", "email")
    assert service.erase(credit_code(5)) is True
    assert store.get(credit_code(5)) is None and service.history(credit_code(5)) == []
    assert store.summary("p1", 1)["delivered"] == 1, "the campaign still counts the push"
    assert service.tallies() == {"deleted_by_business": 1}
    with store.engine.connect() as conn:
        for table in ("push_subscribers", "push_recipients", "push_confirmations", "push_subscriber_history"):
            assert conn.execute(text(f"SELECT count(*) FROM {table} WHERE credit_code = :c"),
                                {"c": credit_code(5)}).scalar_one() == 0, table
    assert service.erase(credit_code(5)) is False
