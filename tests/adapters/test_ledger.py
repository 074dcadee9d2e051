"""The adapters' ledger keeps what a retry or a callback needs, across processes."""

from __future__ import annotations

from pathlib import Path

from persistence.ledger import Ledger
from persistence.store import StatusStore


def test_facts_merge_and_callbacks_find_their_delivery(tmp_path: Path) -> None:
    store = StatusStore(f"sqlite:///{tmp_path}/s.db")
    ledger = Ledger(store.engine)
    assert ledger.get("wechat", "dlv_1") == {}
    ledger.put("wechat", "dlv_1", stage="draft", media_id="M1")
    merged = ledger.put("wechat", "dlv_1", external_ref="P42", stage="submitted")
    assert merged == {"stage": "submitted", "media_id": "M1"}
    assert ledger.by_external_ref("wechat", "P42") == ("dlv_1", merged)
    assert ledger.by_external_ref("weibo", "P42") is None  # scoped per channel
    reopened = Ledger(StatusStore(f"sqlite:///{tmp_path}/s.db").engine)  # another process, same database
    assert reopened.get("wechat", "dlv_1")["media_id"] == "M1"
