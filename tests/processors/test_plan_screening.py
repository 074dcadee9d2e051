"""What each type of screening finding does in the plan stage: block, hold, warn."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from persistence.store import StatusStore
from processors.normalize import normalize
from processors.stages import ChangeKind, PublicationChange, StageContext, plan
from schemas import DeliveryStatus, DeliveryTask, IndexNo, PublicationIn, StatusEvent
from settings import Settings

NOW = dt.datetime(2025, 3, 5, 2, 0, tzinfo=dt.UTC)


def publication(**changes: object):  # type: ignore[no-untyped-def]
    fields = PublicationIn.model_validate(sample_policy(**changes))
    return normalize(fields, publication_id="pub_screen", version=1, department=DEMO_DEPARTMENT["publisher_code"],
                     index=IndexNo(code=DEMO_DEPARTMENT["publisher_code"], year=2025, sequence=1), submitted_at=NOW)


@pytest.fixture
def ctx(tmp_path: Path) -> StageContext:
    settings = Settings(data_dir=tmp_path, channels=["portal", "weibo"])
    return StageContext(settings=settings, store=StatusStore(f"sqlite:///{tmp_path}/s.db"), adapters={}, clock=lambda: NOW)


def run(kind: ChangeKind, body: str, ctx: StageContext) -> list:  # type: ignore[type-arg]
    return asyncio.run(plan(PublicationChange(kind=kind, publication=publication(body=body)), ctx))


BLOCKED = "<p>机密★</p><p>正文。</p>"
HELD = "<p>联系人手机138-1234-5678。</p>"
WARNED = "<p>保守国家秘密。</p>"


@pytest.mark.parametrize("kind", [ChangeKind.submitted, ChangeKind.revised, ChangeKind.released])
def test_block_and_hold_stop_every_channel(ctx: StageContext, kind: ChangeKind) -> None:
    for body, who in ((BLOCKED, "blocked by screening: the department must revise it"), (HELD, "held for operator review")):
        out = run(kind, body, ctx)
        assert [type(m) for m in out] == [StatusEvent], out
        assert out[0].status is DeliveryStatus.held and out[0].channel is None
        assert out[0].detail.startswith(who)


def test_an_approval_releases_a_hold_but_never_a_block(ctx: StageContext) -> None:
    released = run(ChangeKind.approved, HELD, ctx)
    assert sorted(m.channel for m in released if isinstance(m, DeliveryTask)) == ["portal", "weibo"]
    # A block reaching plan as approved (e.g. screening rules that grew stricter since) stays held.
    still = run(ChangeKind.approved, BLOCKED, ctx)
    assert [m.status for m in still] == [DeliveryStatus.held]


def test_warnings_go_out_with_one_note_for_operators(ctx: StageContext) -> None:
    out = run(ChangeKind.submitted, WARNED, ctx)
    # The first task carries the note ahead of its own statuses (it reaches the store with that delivery's outcome).
    assert all(isinstance(m, DeliveryTask) for m in out)
    first, *rest = out
    assert isinstance(first, DeliveryTask)
    note, *queued = first.statuses
    assert note.channel is None and note.status is DeliveryStatus.pending
    assert note.detail.startswith("screening notes, published anyway: [warn] 保密用语")
    assert [s.channel for s in queued] == [first.channel]
    assert all(s.channel is not None for m in rest if isinstance(m, DeliveryTask) for s in m.statuses)
    assert sorted(m.channel for m in out if isinstance(m, DeliveryTask)) == ["portal", "weibo"]
    clean = run(ChangeKind.submitted, "<p>正文。</p>", ctx)
    assert not any(isinstance(m, StatusEvent) and m.channel is None for m in clean)


def test_a_retraction_is_never_screened(ctx: StageContext) -> None:
    pub = publication(body=BLOCKED).model_copy(update={"retracted": True, "retract_reason": "撤回"})
    out = asyncio.run(plan(PublicationChange(kind=ChangeKind.retracted, publication=pub), ctx))
    assert sorted(m.channel for m in out if isinstance(m, DeliveryTask)) == ["portal", "weibo"]
