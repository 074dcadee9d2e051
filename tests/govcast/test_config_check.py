"""`govcast config check`: every setting with where it came from, secrets masked, unknown variables and what a
configured channel still lacks."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from adapters.channels import specs
from govcast.cli import main
from settings import Settings, from_env, get_settings


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The check reads GOVCAST_* through the cached factory: start each test from a clean environment
    in sandbox mode (as deploy/dev/govcast runs it)."""
    for name in [n for n in os.environ if n.startswith("GOVCAST_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GOVCAST_SANDBOXES", "true")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def variables() -> set[str]:
    """Every GOVCAST_* variable a setting reads: the core ones and each channel's own."""
    names = {f"GOVCAST_{name.upper()}" for name in Settings.model_fields if from_env(name)}
    for spec in specs():
        if spec.settings is not None:
            prefix = str(spec.settings.model_config.get("env_prefix", "")).upper()
            names |= {f"{prefix}{name.upper()}" for name in spec.settings.model_fields}
    return names


def check(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, tuple[str, str]], str]:
    status = main(["config", "check"])
    out = capsys.readouterr().out
    rows = {}
    for line in out.splitlines():
        parts = line.split(maxsplit=2)
        if parts and parts[0].startswith("GOVCAST_"):
            rows[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
    return status, rows, out


def test_defaults_pass_in_sandbox_mode_and_every_setting_is_listed(capsys: pytest.CaptureFixture[str]) -> None:
    status, rows, out = check(capsys)
    assert status == 0
    assert rows["GOVCAST_PORT"] == ("default", "8000")
    assert rows["GOVCAST_DB_AUTO_UPGRADE"] == ("default", "True")
    assert set(rows) == variables()  # the core settings and every channel's GOVCAST_<CHANNEL>_*
    assert "  portal      ok" in out


def test_without_sandbox_mode_the_platform_channels_need_their_settings(monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GOVCAST_SANDBOXES")
    status, rows, out = check(capsys)  # sandbox mode is off by default
    assert status != 0 and rows["GOVCAST_SANDBOXES"] == ("default", "False")
    for channel in ("wechat", "weibo", "disclosure"):
        assert f"  {channel:<11} MISSING" in out, out
    assert "  portal      ok" in out


def test_secrets_are_masked_and_what_is_set_says_so(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GOVCAST_METRICS_TOKEN", "prometheus-s3cret")
    monkeypatch.setenv("GOVCAST_STORE_URL", "postgresql+psycopg://govcast:db-s3cret@db.internal:5432/govcast")
    monkeypatch.setenv("GOVCAST_PORT", "9000")
    status, rows, out = check(capsys)
    assert status == 0
    assert "s3cret" not in out
    assert rows["GOVCAST_METRICS_TOKEN"] == ("set", "********")
    assert rows["GOVCAST_STORE_URL"] == ("set", "postgresql+psycopg://govcast:***@db.internal:5432/govcast")
    assert rows["GOVCAST_PORT"] == ("set", "9000")
    assert rows["GOVCAST_WECHAT_SECRET"] == ("default", "(empty)")


def test_a_misspelt_variable_is_reported(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GOVCAST_SANDBOX", "false")  # GOVCAST_SANDBOXES is meant
    _, rows, _ = check(capsys)
    assert rows["GOVCAST_SANDBOX"] == ("unknown", "(no such setting: ignored)")


def test_a_channel_without_its_credentials_is_named_with_the_variables_to_set(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GOVCAST_SANDBOXES", "false")
    monkeypatch.setenv("GOVCAST_CHANNELS", "portal,wechat")
    status, _, out = check(capsys)
    assert status == 1
    assert "  portal      ok" in out
    assert "  wechat      MISSING: the wechat channel needs GOVCAST_WECHAT_APPID and GOVCAST_WECHAT_SECRET" in out


def test_a_bad_value_is_refused_naming_its_variable(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GOVCAST_PORT", "eighty")
    monkeypatch.setenv("GOVCAST_CATEGORIES", "政策文件=zcwj")
    assert main(["config", "check"]) == 2
    err = capsys.readouterr().err
    assert "GOVCAST_PORT: Input should be a valid integer, unable to parse string as an integer (got 'eighty')" in err
    assert "GOVCAST_CATEGORIES must be a JSON object" in err


def test_a_bad_channel_setting_is_refused_naming_its_variable(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GOVCAST_WECHAT_TIMEOUT_SECONDS", "ten")
    assert main(["config", "check"]) == 2
    assert "GOVCAST_WECHAT_TIMEOUT_SECONDS: Input should be a valid number" in capsys.readouterr().err


def test_a_mass_send_time_outside_the_send_window_is_refused_naming_both(monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GOVCAST_CHANNELS", "portal,wechat")
    monkeypatch.setenv("GOVCAST_NEWMEDIA_REVIEW", "wechat")
    monkeypatch.setenv("GOVCAST_WECHAT_MASS_SEND", "true")
    monkeypatch.setenv("GOVCAST_WECHAT_MASS_SEND_TIME", "22:00")
    assert main(["config", "check"]) == 2
    err = capsys.readouterr().err
    assert "GOVCAST_WECHAT_MASS_SEND_TIME 22:00 is outside GOVCAST_NEWMEDIA_SEND_WINDOW 08:00-21:00" in err
    monkeypatch.setenv("GOVCAST_NEWMEDIA_SEND_WINDOW", "08:00-23:00")
    get_settings.cache_clear()
    assert main(["config", "check"]) == 0
