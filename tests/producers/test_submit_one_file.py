"""Embedded mode with the log in the store's file (how `govcast run` runs on one node): a submission's event is
appended by the group-commit transaction itself (no outbox row), and concurrent submissions sharing batches put
on the log exactly the 索引号 their 202 answered, each once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient

from govcast.samples import sample_policy
from persistence.store import StatusStore
from processors.embedded.log import SqliteLog
from processors.outbox import pending
from producers.api import create_app
from schemas.events import Topics
from settings import Settings


def test_concurrent_submissions_put_their_answered_number_on_the_log(settings: Settings, store: StatusStore,
                                                                   dept: dict[str, str]) -> None:
    log = SqliteLog(settings.log_path)
    assert log.path.resolve() == (settings.data_dir / "status.db").resolve()  # the store's file
    with TestClient(create_app(settings, store, log)) as client:

        def submit(n: int) -> dict[str, Any]:
            response = client.post("/v1/publications", json=sample_policy(title=f"同一文件第{n}号通知"), headers=dept)
            assert response.status_code == 202, response.text
            return dict(response.json())

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(submit, range(24)))
    records = [r for part in range(log.ensure_topic(Topics.publications))
               for r in log.fetch("tests", Topics.publications, part, limit=1000)]
    on_log = {r.event.data["id"]: r.event.data["index_no"] for r in records}
    log.close()
    assert len(records) == len(answers)  # each once
    assert on_log == {a["id"]: a["index_no"] for a in answers}  # the number the client was told
    assert len(set(on_log.values())) == len(answers)
    assert pending(store) == 0  # nothing went through the outbox
