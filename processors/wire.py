"""Publications on internal topics: validated once per process, not on every hop.

The API validates a submission at the edge; inside the pipeline the same publication then rides on
every message about it (the change, one delivery task per channel, the plan's status events, thousands
of push tasks), and validating or dumping the 3.6 KB model on each hop was a large share of a worker's
CPU. This cache remembers the last publications this process validated or dumped, keyed by (id,
version), together with their JSON form. A message whose publication is *equal* to the remembered JSON
form gets the remembered model; any other content, e.g. a corrupted or hand-edited message, is
validated in full like before, so it still fails (and the host parks it on the dead-letter topic).
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from typing import Any

from schemas.publication import Publication

# What the remembered publications may take, roughly: a publication's stages lag one another by up to a
# topic's backlog (a worker working off 1,000 queued submissions plans them all before it delivers the
# first), and a copy that is no longer remembered is validated in full again (0.3-0.5 ms). About 20 KB each
# for a short notice (model and JSON form), so some 2,000 of those; fewer long documents.
BUDGET_BYTES = 48 * 1024 * 1024
ENTRY_BYTES = 16 * 1024  # an entry's cost besides its body texts


def weight(pub: Publication) -> int:
    """Approximate memory of one entry: the body texts, held by the model and by the JSON form."""
    return ENTRY_BYTES + 2 * (sys.getsizeof(pub.body_html) + sys.getsizeof(pub.body_text))


class PublicationCache:
    """(id, version) → (model, JSON form); least recently used dropped first, within a memory budget.
    Safe across threads."""

    def __init__(self, budget: int = BUDGET_BYTES) -> None:
        self._entries: OrderedDict[tuple[Any, Any], tuple[Publication, dict[str, Any]]] = OrderedDict()
        self._weights: dict[tuple[Any, Any], int] = {}
        self._budget, self._used = budget, 0
        self._lock = threading.Lock()

    def validated(self, data: dict[str, Any]) -> Publication:
        """The Publication `data` describes: the remembered one when `data` is exactly its JSON form."""
        key = (data.get("id"), data.get("version"))
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[1] == data:
            self._touch(key, entry)
            return entry[0]
        model = Publication.model_validate(data)
        self._touch(key, (model, data))
        return model

    def dumped(self, pub: Publication) -> dict[str, Any]:
        """`pub.model_dump(mode="json")`, computed once per model (callers must not change the dict)."""
        key = (pub.id, pub.version)
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[0] is pub:
            self._touch(key, entry)
            return entry[1]
        data = pub.model_dump(mode="json")
        self._touch(key, (pub, data))
        return data

    def __len__(self) -> int:
        return len(self._entries)

    def _touch(self, key: tuple[Any, Any], entry: tuple[Publication, dict[str, Any]]) -> None:
        with self._lock:
            if self._entries.get(key) is not entry:
                self._used += weight(entry[0]) - self._weights.get(key, 0)
                self._weights[key] = weight(entry[0])
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while self._used > self._budget and len(self._entries) > 1:
                old, _ = self._entries.popitem(last=False)
                self._used -= self._weights.pop(old)


publications = PublicationCache()


def with_publication(data: Any, field: str = "publication") -> Any:
    """`data` (a message's dict) with its publication field replaced by the validated model, if it has one."""
    if isinstance(data, dict) and isinstance(data.get(field), dict):
        return {**data, field: publications.validated(data[field])}
    return data


def dump_with_publication(model: Any, field: str = "publication") -> dict[str, Any]:
    """`model.model_dump(mode="json")` with the publication's JSON form taken from the cache."""
    payload: dict[str, Any] = model.model_dump(mode="json", exclude={field})
    pub = getattr(model, field)
    payload[field] = publications.dumped(pub) if pub is not None else None
    return payload
