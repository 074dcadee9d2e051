"""The chaos table: one row per scenario (submitted, delivered, duplicates, losses, time to recover).

Rows are collected while the scenarios run and printed at the end of the pytest run (tests/chaos/conftest.py), so
the table is in the CI output whether the scenarios pass or fail. A row is recorded *before* its assertions: a
failing scenario shows what it counted.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Row:
    scenario: str
    submitted: int  # accepted (202) publications, or for push: businesses to reach
    delivered: int  # distinct accepted items the channel holds
    duplicates: int  # extra copies the channel holds (the sandbox, the portal index, the receivers)
    losses: int  # accepted but never delivered
    recover_seconds: float  # from the end of the fault (restart, space back, broker up) to the last delivery
    fault: str = ""

    def line(self) -> str:
        return (f"| {self.scenario:<28} | {self.submitted:>9} | {self.delivered:>9} | {self.duplicates:>10} | "
                f"{self.losses:>6} | {self.recover_seconds:>11.1f} | {self.fault}")


ROWS: list[Row] = []
HEADER = ("| scenario                     | submitted | delivered | duplicates | losses | recover (s) | fault\n"
          "|------------------------------|-----------|-----------|------------|--------|-------------|------")


def count(scenario: str, accepted: Iterable[str], held: Counter[str], recover_seconds: float, fault: str) -> Row:
    """The row of one scenario: `accepted` ids against `held`, how often the channel holds each id."""
    ids = set(accepted)
    row = Row(scenario=scenario, submitted=len(ids), delivered=len(ids & set(held)),
              duplicates=sum(n - 1 for n in held.values() if n > 1), losses=len(ids - set(held)),
              recover_seconds=round(recover_seconds, 1), fault=fault)
    record(row)
    return row


def record(row: Row) -> None:
    ROWS.append(row)
    # `deploy/dev/chaos` asks for a JSON copy of the table (GOVCAST_CHAOS_TABLE): one row per line.
    if target := os.environ.get("GOVCAST_CHAOS_TABLE"):
        with Path(target).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(row), ensure_ascii=False) + "\n")


def render(rows: list[Row]) -> str:
    return "\n".join([HEADER, *(r.line() for r in rows)])
