"""Unit registry: the public enterprises and institutions (公共企事业单位) the disclosure platform lists.

A small configurable table — unified social credit code, name, sector — read from a JSON
file (`{"units": [{credit_code, name, sector}, ...]}` or a bare list) or a CSV file with the
header `credit_code,name,sector`. `GOVCAST_DISCLOSURE_UNITS_FILE` names it; without it the
bundled sample table of fictional units (adapters/disclosure/disclosure_units.sample.json) applies.
Sectors follow 国办发〔2020〕50号 (教育, 卫生健康, 供水, 供电, 供气, 供热, 环境保护, 公共交通) and
are extensible: any non-empty name is accepted.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from schemas.vocab import credit_code_checksum_ok

SAMPLE_UNITS_FILE = Path(__file__).with_name("disclosure_units.sample.json")
SECTORS = ("教育", "卫生健康", "供水", "供电", "供气", "供热", "环境保护", "公共交通")


class Unit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    credit_code: str
    name: Annotated[str, Field(min_length=1, max_length=100)]
    sector: Annotated[str, Field(min_length=1, max_length=30)]

    @field_validator("credit_code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not credit_code_checksum_ok(value):
            raise ValueError(f"{value!r} is not a unified social credit code with a valid GB 32100 check character")
        return value


_UNITS = TypeAdapter(list[Unit])


class UnitRegistry:
    def __init__(self, units: list[Unit]) -> None:
        self.units: dict[str, Unit] = {}
        for unit in units:
            if unit.credit_code in self.units:
                raise ValueError(f"unit {unit.credit_code} is listed twice")
            self.units[unit.credit_code] = unit

    def get(self, credit_code: str) -> Unit | None:
        return self.units.get(credit_code)

    def unknown(self, credit_codes: list[str]) -> list[str]:
        return [code for code in credit_codes if code not in self.units]

    def __len__(self) -> int:
        return len(self.units)


def parse_units(text: str, *, csv_format: bool = False) -> UnitRegistry:
    rows: Any
    if csv_format:
        rows = [{k: v for k, v in row.items() if k} for row in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))]
    else:
        data = json.loads(text)
        rows = data.get("units") if isinstance(data, dict) else data
    return UnitRegistry(_UNITS.validate_python(rows))


@functools.cache
def _load(path: Path, mtime_ns: int) -> UnitRegistry:
    try:
        return parse_units(path.read_text(encoding="utf-8"), csv_format=path.suffix.lower() == ".csv")
    except ValueError as exc:
        raise ValueError(f"unit registry {path}: {exc}") from exc


def load_units(path: str | Path | None) -> UnitRegistry:
    """The registry in `path` (empty: the bundled sample); re-read when the file changes."""
    target = Path(path) if path else SAMPLE_UNITS_FILE
    return _load(target, target.stat().st_mtime_ns)
