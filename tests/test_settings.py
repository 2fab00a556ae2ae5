"""Settings: required ones named when missing, production refuses weak secrets (pitfall 120)."""

from __future__ import annotations

import pytest

from lightserv.settings import SettingsError, load_settings


def test_missing_mode_is_named(monkeypatch):
    monkeypatch.delenv("LIGHTSERV_MODE", raising=False)
    with pytest.raises(SettingsError, match="LIGHTSERV_MODE is required but not set"):
        load_settings()


def test_prod_requires_a_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(SettingsError, match="SECRET_KEY is required in PROD"):
        load_settings(lightserv_mode="PROD")


def test_prod_cookies_are_secure_and_dev_cookies_are_not():
    assert load_settings(lightserv_mode="PROD", secret_key="x" * 40).cookie_secure is True
    assert load_settings(lightserv_mode="DEV").cookie_secure is False


def test_a_bad_trusted_proxy_is_named():
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        load_settings(lightserv_mode="TEST", remote_user_header="X-Remote-User", trusted_proxies="not-an-ip")


def test_settings_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("LIGHTSERV_MODE", "dev")
    monkeypatch.setenv("DJ_SCHEMA_PREFIX", "lightserv_env_")
    monkeypatch.setenv("DB_PORT", "3307")
    s = load_settings()
    assert (s.lightserv_mode, s.dj_schema_prefix, s.db_port) == ("DEV", "lightserv_env_", 3307)


def test_times_are_shown_in_facility_time():
    import datetime as dt

    from lightserv.common.timefmt import format_datetime, local_to_utc

    utc = dt.datetime(2026, 7, 1, 17, 5)
    assert format_datetime(utc, "America/New_York") == "07/01/2026 1:05 PM"
    assert format_datetime(dt.datetime(2026, 1, 1, 5, 0), "America/New_York") == "01/01/2026 12:00 AM"
    assert local_to_utc(dt.datetime(2026, 7, 1, 13, 5), "America/New_York") == utc
