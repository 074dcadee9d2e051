#!/usr/bin/env python3
"""Check deploy/config/govcast.env.example against settings.Settings and every channel's settings model.

The channels' settings (GOVCAST_<CHANNEL>_*) come from the channel registry (adapters/channels.py): a
channel added there is checked here too.

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

from adapters.channels import specs  # noqa: E402
from adapters.common.settings import ChannelSettings  # noqa: E402
from settings import Settings, from_env  # noqa: E402

DEFAULT_PATH = Path(__file__).resolve().with_name("govcast.env.example")
ASSIGNMENT = re.compile(r"^(?P<comment>#\s*)?(?P<name>GOVCAST_[A-Z0-9_]+)=(?P<value>.*)$")
MENTION = re.compile(r"\bGOVCAST_[A-Z0-9_]*[A-Z0-9]\b")


def channel_models() -> list[type[ChannelSettings]]:
    return [spec.settings for spec in specs() if spec.settings is not None]


def variables() -> dict[str, tuple[type[Any], str]]:
    """GOVCAST_* variable -> (the model that reads it, its field name)."""
    known: dict[str, tuple[type[Any], str]] = {
        f"GOVCAST_{name.upper()}": (Settings, name) for name in Settings.model_fields if from_env(name)}
    for model in channel_models():
        prefix = model.model_config.get("env_prefix", "")
        known.update({f"{prefix}{name}".upper(): (model, name) for name in model.model_fields})
    return known


def default_of(model: type[Any], name: str) -> Any:
    return model.model_fields[name].get_default(call_default_factory=True)


def check(path: Path) -> list[str]:
    problems: list[str] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    known = variables()

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

    for var, (_, name) in known.items():
        if var not in documented:
            problems.append(f"{path.name}: setting {name!r} is missing (add a {var}= line)")
    for var, where in active.items():
        if len(where) > 1:
            problems.append(f"{path.name}: {var} is set {len(where)} times (lines {', '.join(str(n) for n, _ in where)})")

    environ = {var: where[-1][1] for var, where in active.items()}
    with mock.patch.dict(os.environ, environ, clear=True):  # read the way govcast reads its environment
        try:
            loaded: dict[type[Any], Any] = {Settings: Settings()}
            loaded.update({model: model() for model in channel_models()})  # each reads its own GOVCAST_<CHANNEL>_*
        except ValueError as exc:
            problems.append(f"{path.name}: the active values are not valid settings: {exc}")
            return problems
    for var, where in active.items():
        model, name = known[var]
        got, default = getattr(loaded[model], name), default_of(model, name)
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
    print(f"{path}: all {len(variables())} settings present, defaults match")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
