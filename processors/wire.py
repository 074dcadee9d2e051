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

import threading
from collections import OrderedDict
from typing import Any

from schemas.publication import Publication

SIZE = 256  # publications in flight in one process at a time, with room to spare


class PublicationCache:
    """(id, version) → (model, JSON form); least recently used dropped first. Safe across threads."""

    def __init__(self, size: int = SIZE) -> None:
        self._entries: OrderedDict[tuple[Any, Any], tuple[Publication, dict[str, Any]]] = OrderedDict()
        self._size = size
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

    def _touch(self, key: tuple[Any, Any], entry: tuple[Publication, dict[str, Any]]) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


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
