"""Export the JSON Schema of the shared models (`govcast schema DIR`)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.delivery import DeliveryReport, DeliveryTask, StatusEvent
from schemas.events import CloudEvent
from schemas.publication import Accepted, Publication, PublicationIn, PublicationOut, RetractIn

MODELS: tuple[type[BaseModel], ...] = (
    PublicationIn, Publication, PublicationOut, Accepted, RetractIn, DeliveryTask, DeliveryReport, StatusEvent, CloudEvent,
)


def export(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for model in MODELS:
        path = out_dir / f"{model.__name__}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
