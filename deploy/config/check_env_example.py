#!/usr/bin/env python3
"""Check deploy/config/govcast.env.example against govcast.settings.Settings.

Exits 1 (listing every problem) when
  - a setting has no GOVCAST_<NAME>= line (active, or commented out as `# GOVCAST_<NAME>=`),
  - the file names a GOVCAST_* variable that is not a setting (anywhere, comments included),
  - a setting has more than one active line, or an active line has no comment line above it,
  - the active lines, read the way govcast reads its environment, do not give valid
    Settings, or an active value differs from the setting's default (an empty value
    counts as "not set", which is right for the settings whose default is None).
Exits 0 otherwise.

    python deploy/config/check_env_example.py [PATH]
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from govcast.settings import Settings  # noqa: E402

DEFAULT_PATH = Path(__file__).resolve().with_name("govcast.env.example")
ASSIGNMENT = re.compile(r"^(?P<comment>#\s*)?(?P<name>GOVCAST_[A-Z0-9_]+)=(?P<value>.*)$")
MENTION = re.compile(r"\bGOVCAST_[A-Z0-9_]*[A-Z0-9]\b")


def default_of(name: str) -> Any:
    field = Settings.model_fields[name]
    return field.get_default(call_default_factory=True)


def check(path: Path) -> list[str]:
    problems: list[str] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    known = {f"GOVCAST_{name.upper()}": name for name in Settings.model_fields}

    active: dict[str, list[tuple[int, str]]] = {}
    documented: set[str] = set()
    for number, line in enumerate(lines, 1):
        for mention in MENTION.findall(line):
            if mention not in known:
                problems.append(f"{path.name}:{number}: {mention} is not a govcast setting")
        match = ASSIGNMENT.match(line.strip())
        if match is None or match["name"] not in known:
            continue
        documented.add(match["name"])
        if match["comment"] is None:
            active.setdefault(match["name"], []).append((number, match["value"]))
            previous = lines[number - 2].strip() if number > 1 else ""
            if not previous.startswith("#"):
                problems.append(f"{path.name}:{number}: {match['name']} has no comment line above it")

    for var, name in known.items():
        if var not in documented:
            problems.append(f"{path.name}: setting {name!r} is missing (add a {var}= line)")
    for var, where in active.items():
        if len(where) > 1:
            problems.append(f"{path.name}: {var} is set {len(where)} times (lines {', '.join(str(n) for n, _ in where)})")

    environ = {var: where[-1][1] for var, where in active.items()}
    try:
        with mock.patch.dict(os.environ, environ, clear=True):  # read the way govcast reads its environment
            settings = Settings()
    except ValueError as exc:
        problems.append(f"{path.name}: the active values are not valid settings: {exc}")
        return problems
    for var, where in active.items():
        name = known[var]
        got, default = getattr(settings, name), default_of(name)
        if where[-1][1] == "" and default is None:
            continue
        if got != default:
            problems.append(f"{path.name}:{where[-1][0]}: {var}={where[-1][1]} is not the default ({default!r})")
    return problems


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_PATH
    problems = check(path)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"{path}: all {len(Settings.model_fields)} settings present, defaults match")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
