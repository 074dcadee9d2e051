"""Unit registry (adapters/disclosure/units.py) and the `units` field of publications."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from adapters.channels import spec_of
from adapters.disclosure.units import SAMPLE_UNITS_FILE, SECTORS, load_units, parse_units
from govcast.samples import sample_policy
from schemas.publication import PublicationIn
from schemas.vocab import credit_code_checksum_ok


def test_the_bundled_sample_table_is_valid_and_covers_the_sectors() -> None:
    registry = load_units(None)
    assert len(registry) >= 8
    assert all(credit_code_checksum_ok(code) for code in registry.units)
    assert set(SECTORS) <= {u.sector for u in registry.units.values()}
    assert [u.sector for u in registry.units.values()].count("供水") >= 2
    assert load_units("") is registry and load_units(SAMPLE_UNITS_FILE) is registry  # cached per file version


def test_a_csv_table_and_its_changes_are_read(tmp_path: Path) -> None:
    table = tmp_path / "units.csv"
    table.write_text("\ufeffcredit_code,name,sector\n91370100MA3C8W1A0N,泉城供水,供水\n", encoding="utf-8")
    first = load_units(table)
    assert first.get("91370100MA3C8W1A0N").name == "泉城供水"  # type: ignore[union-attr]
    table.write_text("credit_code,name,sector\n91370100MA3C8W1A0N,泉城供水,供水\n91370100MA3E5P2C4L,城市燃气,城市燃气（扩展领域）\n",
                     encoding="utf-8")
    import os
    os.utime(table, ns=(1, 10**18))  # a new mtime even on coarse file systems
    assert len(load_units(table)) == 2  # sectors are extensible


@pytest.mark.parametrize("text", [
    '{"units": [{"credit_code": "91370100MA3C8W1A0X", "name": "a", "sector": "供水"}]}',  # bad check character
    '{"units": [{"credit_code": "91370100MA3C8W1A0N", "name": "", "sector": "供水"}]}',
    '[{"credit_code": "91370100MA3C8W1A0N", "name": "a", "sector": "供水"},'
    ' {"credit_code": "91370100MA3C8W1A0N", "name": "b", "sector": "供水"}]',  # listed twice
])
def test_bad_tables_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_units(text)


def test_publications_name_units_by_checksum_valid_credit_codes() -> None:
    pub = PublicationIn.model_validate(sample_policy(units=["91370100MA3C8W1A0N", "91370100MA3C8W1A0N"]))
    assert pub.units == ["91370100MA3C8W1A0N"]  # duplicates collapse
    assert spec_of("disclosure").applies(pub) and spec_of("portal").applies(pub)
    with pytest.raises(ValidationError, match="GB 32100"):
        PublicationIn.model_validate(sample_policy(units=["91370100MA3C8W1A0X"]))
    plain = PublicationIn.model_validate(sample_policy())
    assert plain.units == [] and not spec_of("disclosure").applies(plain) and spec_of("portal").applies(plain)
