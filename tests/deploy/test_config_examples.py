"""The shipped configuration examples stay true to the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_names_every_setting_with_its_default() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "deploy/config/check_env_example.py")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dict_settings_are_read_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCAST_CATEGORIES", '{"政策文件": "zcwj", "惠企政策": "hqzc"}')
    assert Settings().categories == {"政策文件": "zcwj", "惠企政策": "hqzc"}
    monkeypatch.setenv("GOVCAST_CATEGORIES", "政策文件=zcwj")
    with pytest.raises(ValueError, match="GOVCAST_CATEGORIES must be a JSON object"):
        Settings()
    monkeypatch.setenv("GOVCAST_CATEGORIES", '["政策文件"]')
    with pytest.raises(ValueError, match="GOVCAST_CATEGORIES must be a JSON object"):
        Settings()


def test_list_settings_are_comma_separated_and_empty_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCAST_CHANNELS", "portal, weibo")
    monkeypatch.setenv("GOVCAST_STORE_URL", "")
    settings = Settings()
    assert settings.channels == ["portal", "weibo"]
    assert settings.store_url is None


def test_a_bad_value_names_its_variable_and_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCAST_PORT", "eighty")
    with pytest.raises(ValueError, match="port"):
        Settings()
    monkeypatch.setenv("GOVCAST_PORT", "8080")
    monkeypatch.setenv("GOVCAST_WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/8,intranet")
    with pytest.raises(ValueError, match="'intranet' is not an IP network"):
        Settings()
    monkeypatch.delenv("GOVCAST_WEBHOOK_ALLOWED_NETWORKS")
    assert Settings(port=9000).port == 9000 and Settings().port == 8080
