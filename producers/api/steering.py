"""Operators' JSON API for steering deliveries (the console's actions, for scripts and alerts runbooks).

Dead letters: list, requeue one, requeue all of a channel. Channels: figures, pause, resume.
One delivery: retry now. Operator tokens only; every action is signed with the operator's name.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from persistence.store import Principal
from producers.api.deps import PrincipalDep, StoreDep
from producers.console.steering import Steering
from producers.errors import Forbidden
from producers.problems import problem_docs

router = APIRouter(tags=["operations"], responses=problem_docs(401, 403))

ChannelName = Annotated[str, Path(min_length=1, max_length=30)]


class PauseIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="why the channel is paused (shown everywhere)")


def get_steering(request: Request) -> Steering:
    steering: Steering = request.app.state.steering
    return steering


SteeringDep = Annotated[Steering, Depends(get_steering)]


def operator(principal: PrincipalDep) -> Principal:
    if principal.kind != "operator":
        raise Forbidden("operator token required")
    return principal


OperatorDep = Annotated[Principal, Depends(operator)]


@router.get("/v1/deadletters", summary="Dead letters (open ones unless all=true)")
def dead_letters(_: OperatorDep, store: StoreDep, channel: Annotated[str | None, Query(max_length=30)] = None,
                 include_requeued: Annotated[bool, Query(alias="all")] = False) -> dict[str, Any]:
    rows = store.dead_letters(channel=channel, open_only=not include_requeued, limit=500)
    return {"items": [{**{k: v for k, v in dataclasses.asdict(d).items() if k != "event"}, "type": d.event.type}
                      for d in rows]}


@router.post("/v1/deadletters/{event_id}/requeue", summary="Requeue one dead letter", responses=problem_docs(409, 503))
def requeue_one(event_id: Annotated[str, Path(max_length=64)], who: OperatorDep, steering: SteeringDep) -> dict[str, int]:
    return {"requeued": steering.requeue(who, event_id=event_id)}


@router.post("/v1/channels/{channel}/deadletters/requeue", summary="Requeue every open dead letter of a channel",
             responses=problem_docs(404, 503))
def requeue_channel(channel: ChannelName, who: OperatorDep, steering: SteeringDep) -> dict[str, int]:
    return {"requeued": steering.requeue(who, channel=channel)}


@router.get("/v1/channels", summary="Per-channel delivery figures and pauses")
def channels(_: OperatorDep, steering: SteeringDep) -> dict[str, Any]:
    pauses = steering.store.pauses()
    figures = steering.store.channel_figures(steering.settings.channels)
    return {"channels": [{**dataclasses.asdict(f), "paused": dataclasses.asdict(pauses[c]) if c in pauses else None}
                         for c, f in figures.items()]}


@router.post("/v1/channels/{channel}/pause", summary="Pause a channel: its deliveries wait", responses=problem_docs(404))
def pause(channel: ChannelName, body: PauseIn, who: OperatorDep, steering: SteeringDep) -> dict[str, bool]:
    return {"paused": True, "changed": steering.pause(who, channel, body.reason)}


@router.post("/v1/channels/{channel}/resume", summary="Resume a paused channel", responses=problem_docs(404))
def resume(channel: ChannelName, who: OperatorDep, steering: SteeringDep) -> dict[str, bool]:
    return {"paused": False, "changed": steering.resume(who, channel)}


@router.post("/v1/publications/{publication_id}/deliveries/{channel}/retry", summary="Retry one delivery now",
             responses=problem_docs(404, 409, 503))
def retry(publication_id: Annotated[str, Path(max_length=40)], channel: ChannelName, who: OperatorDep,
          steering: SteeringDep) -> dict[str, str]:
    return {"done": steering.retry_now(who, publication_id, channel)}
