"""`govcast portal import`: an earlier portal's archive, loaded line by line into the portal only."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from adapters.portal.config import portal_config
from govcast.cli import main
from govcast.samples import DEMO_DEPARTMENT, sample_policy
from settings import get_settings
from tests.conftest import ROOT
from tests.portal_support import header_table, parse_html

CODE = DEMO_DEPARTMENT["publisher_code"]
SUBMISSION_ONLY = ("review", "channels", "targeting", "publish_at", "units", "disclosure_matter")


def archived(n: int, **changes: Any) -> dict[str, Any]:
    item = {k: v for k, v in sample_policy().items() if k not in SUBMISSION_ONLY}
    item.update(title=f"关于2019年第{n}批惠企政策的通知", index_no=f"{CODE}/2019-{n + 1:05d}", publish_date="2019-06-01",
                written_date="2019-05-30", doc_no=f"济政字〔2019〕{n + 1}号", body=f"<p>第{n}批政策正文，档案编号甲乙{n}号。</p>")
    item.update(changes)
    return item


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def portal_db(data: Path) -> sqlite3.Connection:
    return sqlite3.connect(data / "portal.db")


def test_bad_lines_are_reported_by_number_and_the_rest_loaded(tmp_path: Path, capsys: Any) -> None:
    data = tmp_path / "data"
    lines = [
        json.dumps(archived(0, original_url="http://old.jinan.gov.cn/art/2019/6/1/art_1_1.html"), ensure_ascii=False),
        "{not json",
        json.dumps({k: v for k, v in archived(2).items() if k != "index_no"}, ensure_ascii=False),
        json.dumps(archived(3, doc_no="济政字〔2019〕007号"), ensure_ascii=False),
        json.dumps(archived(4, channels=["wechat"]), ensure_ascii=False),
        json.dumps(archived(5), ensure_ascii=False),
        json.dumps(archived(5, title="重复的索引号"), ensure_ascii=False),
    ]
    status = main(["portal", "import", "--data-dir", str(data), str(write_lines(tmp_path / "a.jsonl", lines))])

    err = capsys.readouterr().err
    assert status == 1
    assert "line 2: not JSON" in err
    assert "line 3: index_no: required" in err
    assert "line 4: doc_no" in err
    assert "line 5: channels: not part of an archive line" in err
    assert "line 7: index_no 11370100004188591X/2019-00006 already given on line 6" in err
    assert "imported 2 archived items" in err and "rejected 5 lines" in err

    page = parse_html((data / "portal/zcwj/arc_11370100004188591X_2019-00001.html").read_text())
    header = header_table(page)
    assert (header["索引号"], header["发布日期"]) == (f"{CODE}/2019-00001", "2019-06-01")  # the original 索引号 kept
    index = json.loads((data / "portal/index.json").read_text())
    assert index["total"] == 2

    settings = get_settings(data_dir=data)
    app = FastAPI()
    from govcast.portal_web import portal_router, redirect_router

    app.include_router(portal_router(portal_config(settings)))  # type: ignore[arg-type]
    app.include_router(redirect_router(portal_config(settings)))  # type: ignore[arg-type]
    client = TestClient(app)
    found = client.get("/portal/search", params={"q": "档案编号甲乙5号", "format": "json"}).json()
    assert [h["id"] for h in found["hits"]] == ["arc_11370100004188591X_2019-00006"]
    moved = client.get("/art/2019/6/1/art_1_1.html", follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (
        301, "http://127.0.0.1:8000/portal/zcwj/arc_11370100004188591X_2019-00001.html")
    assert client.get("/art/2019/6/1/unknown.html").status_code == 404

    from persistence.store import StatusStore

    store = StatusStore(settings.store)
    try:
        with store.engine.begin() as conn:
            assert store.index_no_archived(conn, f"{CODE}/2019-00006")
            assert store.next_index_sequence(conn, CODE, 2019) > 6  # new submissions are numbered after the archive
    finally:
        store.close()


@pytest.mark.slow
def test_kill_9_mid_import_then_rerun_loads_each_line_once(tmp_path: Path) -> None:
    data, count = tmp_path / "data", 3000
    source = write_lines(tmp_path / "big.jsonl", [json.dumps(archived(n), ensure_ascii=False) for n in range(count)])
    args = [sys.executable, "-m", "govcast.cli", "portal", "import", "--data-dir", str(data), str(source)]

    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    line = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with portal_db(data) as db:
                row = db.execute("SELECT value FROM counters WHERE name LIKE 'import:%:line'").fetchone()
            line = row[0] if row else 0
        except sqlite3.OperationalError:  # not created yet, or busy
            line = 0
        if line >= 500:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < line < count, "the import was not caught mid-way; the test proves nothing"

    rerun = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming after line" in rerun.stderr

    with portal_db(data) as db:
        ids = [r[0] for r in db.execute("SELECT id FROM entries")]
        assert db.execute("SELECT total FROM columns WHERE col = 'zcwj'").fetchone()[0] == count
    assert sorted(ids) == sorted(f"arc_{CODE}_2019-{n + 1:05d}" for n in range(count))  # none missing, none twice
    pages = {p.name for p in (data / "portal/zcwj").glob("arc_*.html")}
    assert len(pages) == count
    index = json.loads((data / "portal/index.json").read_text())
    listed = [e["id"] for part in index["parts"]
              for e in json.loads((data / "portal" / part["url"].rsplit("/", 1)[1]).read_text())["entries"]]
    assert len(listed) == len(set(listed)) == count
