"""The shipped configuration examples stay true to the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from govcast.settings import Settings, _from_env

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_names_every_setting_with_its_default() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "deploy/config/check_env_example.py")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dict_settings_are_read_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCAST_CATEGORIES", '{"政策文件": "zcwj", "惠企政策": "hqzc"}')
    assert Settings.model_validate(_from_env()).categories == {"政策文件": "zcwj", "惠企政策": "hqzc"}
    monkeypatch.setenv("GOVCAST_CATEGORIES", "政策文件=zcwj")
    with pytest.raises(ValueError, match="GOVCAST_CATEGORIES must be a JSON object"):
        _from_env()
