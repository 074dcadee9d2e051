"""Disclosure renderer: a publication -> one platform record per concerned unit (contract RecordIn).

The unit's name and sector come from the unit registry (adapters/disclosure/units.py); the source URL
is the item's page on the portal (`{base_url}/portal/<column slug>/<id>.html`, unknown
组配分类 -> column "other"). Units the registry does not know are listed in `unknown_units`
(the adapter rejects the delivery; the submit API already refuses them).
"""

from __future__ import annotations

from typing import Any

from adapters.common.install import Installation
from adapters.common.views import OTHER_COLUMN, article_path, publish_day
from adapters.disclosure.config import disclosure_env
from adapters.disclosure.units import load_units
from schemas.publication import Publication


def source_url(pub: Publication, settings: Installation) -> str:
    slug = settings.categories.get(pub.category, OTHER_COLUMN[0])
    return f"{settings.base_url}/portal/{article_path(slug, pub.id)}"


def render_disclosure(pub: Publication, settings: Installation) -> dict[str, Any]:
    registry = load_units(disclosure_env(settings).units_file)
    common = {
        "source_id": pub.id,
        "disclosure_matter": pub.disclosure_matter or pub.category,
        "title": pub.title,
        "content": pub.body_html,
        "publish_date": publish_day(pub).isoformat(),
        "validity": pub.validity.value,
        "attachments": [a.model_dump(mode="json", exclude_none=True) for a in pub.attachments],
        "source_url": source_url(pub, settings),
        "publisher": pub.publisher,
        "index_no": pub.index_no_text,
    }
    records, unknown = [], []
    for code in pub.units:
        unit = registry.get(code)
        if unit is None:
            unknown.append(code)
        else:
            records.append({**common, "unit": unit.model_dump()})
    return {"records": records, "unknown_units": unknown}
