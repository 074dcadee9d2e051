"""What a new user sees from the command line."""

from __future__ import annotations

import re
import time
from pathlib import Path

import requests

from govcast.samples import sample_policy
from tests.conftest import Client, GovcastProcess, cli

TOKEN_LINE = re.compile(r"^\s+(department token|operator token)[^:]*: (gct_\S+)$", re.M)


def test_first_run_prints_tokens_once_and_they_work(tmp_path: Path) -> None:
    process = GovcastProcess(tmp_path / "data").start()
    try:
        time.sleep(0.3)
        banner = process.output()
        tokens = dict(TOKEN_LINE.findall(banner))
        assert set(tokens) == {"department token", "operator token"}, banner
        assert f"{process.url}/portal/" in banner and f"{process.url}/docs" in banner
        department = Client(process.url, tokens["department token"])
        response = department.submit(sample_policy())
        assert response.status_code == 202, response.text
        assert department.wait_for(response.json()["id"], "delivered")
    finally:
        process.stop()
    process.start()  # same data dir: the secrets are not shown again
    try:
        time.sleep(0.3)
        assert TOKEN_LINE.findall(process.output()) == []
    finally:
        process.stop()


def test_token_create_prints_the_token_alone(tmp_path: Path) -> None:
    done = cli("token", "create", "--data-dir", str(tmp_path), "--kind", "operator", "--name", "值班员")
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"gct_[A-Za-z0-9_-]{40,}\n", done.stdout)
    missing = cli("token", "create", "--data-dir", str(tmp_path), "--kind", "department", "--name", "x")
    assert missing.returncode == 2 and "--publisher-code" in missing.stderr and missing.stdout == ""


def test_demo_publishes_policy_and_interpretation(system: GovcastProcess, department: Client) -> None:
    done = cli("demo", "--url", system.url, "--token", department.token, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    urls = re.findall(r"(http://\S+/portal/\S+\.html)", done.stdout)
    assert len(urls) == 2, done.stdout
    for url in urls:
        assert requests.get(url, timeout=10).status_code == 200


def test_demo_explains_a_wrong_token(system: GovcastProcess) -> None:
    done = cli("demo", "--url", system.url, "--token", "gct_not-a-real-token", timeout=60)
    assert done.returncode == 1
    assert "401" in done.stderr


def test_a_store_url_govcast_cannot_use_is_a_clear_error(tmp_path: Path) -> None:
    done = cli("token", "create", "--data-dir", str(tmp_path), "--kind", "operator", "--name", "x",
               "--store", "mysql://db/govcast")
    assert done.returncode == 2
    assert "SQLite or PostgreSQL" in done.stderr and "Traceback" not in done.stderr


def test_token_list_and_revoke(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    made = cli("token", "create", *data, "--kind", "operator", "--name", "夜班值班员", "--expires", "12h")
    assert made.returncode == 0, made.stderr
    listed = cli("token", "list", *data)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split("\t")[:3] == ["id", "kind", "state"]
    token_id, kind, state, code, expires, *_ = row.split("\t")
    assert (kind, state, code) == ("operator", "active", "-") and expires != "-"
    assert made.stdout.strip() not in listed.stdout  # the secret is never shown again
    revoked = cli("token", "revoke", *data, token_id)
    assert revoked.returncode == 0 and token_id in revoked.stdout
    assert "\trevoked\t" in cli("token", "list", *data).stdout
    assert cli("token", "list", *data, "--active").stdout.splitlines()[1:] == []
    unknown = cli("token", "revoke", *data, "prn_nobody")
    assert unknown.returncode == 1 and "no token" in unknown.stderr


def test_token_create_refuses_nonsense_combinations(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    for args, says in [
        (["--kind", "operator", "--name", "x", "--publisher-code", "11370100004188591X"], "no publisher code"),
        (["--kind", "operator", "--name", "x", "--expires", "2020-01-01"], "not in the future"),
        (["--kind", "operator", "--name", "x", "--expires", "soon"], "duration"),
    ]:
        done = cli("token", "create", *data, *args)
        assert done.returncode == 2 and says in done.stderr and done.stdout == "", (args, done.stderr)
    assert cli("token", "create", *data, "--kind", "department", "--name", "部门",
               "--publisher-code", "11370100004188591X").returncode == 0
    clash = cli("token", "create", *data, "--kind", "business", "--name", "公司", "--publisher-code", "11370100004188591X")
    assert clash.returncode == 2 and "department token" in clash.stderr
