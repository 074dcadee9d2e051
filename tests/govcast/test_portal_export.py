"""`govcast portal export --target DIR`: a second web server's copy of the portal, kept in step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.portal import PortalAdapter, PortalConfig
from govcast.portal_export import export_tree
from govcast.samples import sample_policy
from schemas import Action, Delivered
from tests.portal_support import build_publication, parse_html, task_for

BASE = "http://www.example.gov.cn/portal"


def public_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)}


def deliver(portal: PortalAdapter, pub_id: str, seq: int, action: Action = Action.publish, *, version: int = 1,
            **changes: Any) -> None:
    pub = build_publication(pub_id, sample_policy(**changes), seq=seq, minutes=seq, version=version)
    if action is Action.retract:
        pub = pub.model_copy(update={"retracted": True, "retract_reason": "误发"})
    assert isinstance(portal.deliver(task_for(pub, action)), Delivered)


def test_export_copies_the_public_tree_only_and_then_only_what_changed(tmp_path: Path, capsys: Any) -> None:
    portal = PortalAdapter(PortalConfig(root=tmp_path / "portal", base_url=BASE, site_name="测试", page_size=2,
                                        refresh_seconds=0))
    for n in range(5):
        deliver(portal, f"p{n}", n + 1)
    target = tmp_path / "web2" / "portal"

    assert export_tree(portal.config, target) == 0
    assert public_files(target) == public_files(portal.root)
    assert not (target / ".lock").exists() and not list(target.parent.glob("*.db"))  # the index stays behind
    home = parse_html((target / "index.html").read_text())
    for href, _ in home.links():
        if href.startswith(BASE + "/") and "?" not in href and not href.endswith(("/search", "/zcwjk/", "/go")):
            assert (target / href.removeprefix(BASE + "/")).is_file(), href  # every page the copy links to is there

    untouched = target / "zcwj/p0.html"
    before = untouched.stat().st_mtime_ns
    deliver(portal, "p4", 5, Action.retract)
    deliver(portal, "p3", 4, version=2, title="修订后的标题")
    assert export_tree(portal.config, target) == 0

    assert public_files(target) == public_files(portal.root)  # the withdrawal notice, the revision, shrunk lists
    assert "修订后的标题" in (target / "zcwj/p3.html").read_text()
    assert "该信息已撤回" in (target / "zcwj/p4.html").read_text()
    assert untouched.stat().st_mtime_ns == before  # unchanged pages are not copied again
    assert "copied" in capsys.readouterr().err
    assert (tmp_path / "web2" / "portal-redirects.map").exists()


def test_export_refuses_a_target_inside_the_portal(tmp_path: Path) -> None:
    portal = PortalAdapter(PortalConfig(root=tmp_path / "portal", base_url=BASE, site_name="测试", refresh_seconds=0))
    deliver(portal, "p0", 1)
    assert export_tree(portal.config, portal.root / "copy") == 2
