"""`govcast config check`: what is set, what is left at its default, what a configured channel still lacks.

Secrets never appear: `SecretStr` settings show as ******** (or "empty"), and a password inside a URL (the
store's) as ***. A GOVCAST_* variable that names no setting is listed too: a typo there is otherwise silent.
Exit status 0 when every configured channel has what it needs, 1 when one lacks something.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings

MASK = "********"


@dataclass(frozen=True)
class Line:
    env: str
    shown: str
    source: str  # "set" (from the environment or a flag) | "default"


def shown(value: Any) -> str:
    """A value as the check prints it: secrets masked, URL passwords hidden, lists comma-joined (as they are set)."""
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else "(empty)"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "(empty)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "(empty)"
    text = "" if value is None else str(value)
    if "://" in text:
        text = _hide_password(text)
    return text or "(empty)"


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def lines_of(model: BaseModel, prefix: str, environ: Mapping[str, str]) -> list[Line]:
    """One line per field of `model`, whose variables are `prefix` + the field name in capitals."""
    out = []
    for name, field in type(model).model_fields.items():
        env = f"{prefix}{name.upper()}"
        value = getattr(model, name)
        changed = env in environ or value != field.get_default(call_default_factory=True)
        out.append(Line(env, shown(value), "set" if changed else "default"))
    return out


def unknown_variables(known: set[str], environ: Mapping[str, str], prefix: str = "GOVCAST_") -> list[str]:
    """GOVCAST_* variables no setting reads, except the ones other tools of govcast read (tests, kill points)."""
    return sorted(name for name in environ if name.startswith(prefix) and name not in known and name not in OTHER_VARIABLES)


# Read by parts other than the settings: crash tests' kill points, the test suite, the dev scripts.
OTHER_VARIABLES = frozenset({"GOVCAST_KILL_AT", "GOVCAST_TEST_PG_URL", "GOVCAST_PG_DIR", "GOVCAST_VENV",
                             "GOVCAST_PG_INSTALL", "GOVCAST_PG_START_TIMEOUT"})


def report(settings: BaseModel, channel_problems: Mapping[str, str | None], out: TextIO,
           environ: Mapping[str, str] | None = None, channel_settings: Sequence[BaseSettings] = ()) -> int:
    environ = os.environ if environ is None else environ
    lines = [line for line in lines_of(settings, "GOVCAST_", environ) if line.env != "GOVCAST_CHANNEL_ENV"]
    for model in channel_settings:  # each channel's own GOVCAST_<CHANNEL>_* (adapters/<name>/config.py)
        known = {line.env for line in lines}
        prefix = str(model.model_config.get("env_prefix", ""))
        lines += [line for line in lines_of(model, prefix.upper(), environ) if line.env not in known]
    width = max(len(line.env) for line in lines)
    print("settings (GOVCAST_*; set = from the environment or a flag):", file=out)
    for line in lines:
        print(f"  {line.env:<{width}}  {line.source:<7}  {line.shown}", file=out)
    unknown = unknown_variables({line.env for line in lines}, environ)
    for name in unknown:
        print(f"  {name:<{width}}  unknown  (no such setting: ignored)", file=out)
    print("channels:", file=out)
    for channel, problem in channel_problems.items():
        print(f"  {channel:<10}  {'ok' if problem is None else 'MISSING: ' + problem}", file=out)
    return 0 if all(problem is None for problem in channel_problems.values()) else 1
