"""Settings: required ones named when missing, production refuses weak secrets."""

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
    assert format_datetime(utc, "America/New_York") == "07/01/2026 1:05 PM EDT"
    assert format_datetime(dt.datetime(2026, 1, 1, 5, 0), "America/New_York") == "01/01/2026 12:00 AM EST"
    assert local_to_utc(dt.datetime(2026, 7, 1, 13, 5), "America/New_York") == utc


def test_prod_secret_key_needs_32_bytes():
    with pytest.raises(SettingsError, match="SECRET_KEY is required in PROD"):
        load_settings(lightserv_mode="PROD", secret_key="x" * 31)
    assert load_settings(lightserv_mode="PROD", secret_key="x" * 32).secret_key == "x" * 32


def test_dev_without_a_key_uses_the_checkouts_random_key(monkeypatch):
    from lightserv.settings import SECRET_KEY_FILE

    monkeypatch.delenv("SECRET_KEY", raising=False)
    key = load_settings(lightserv_mode="DEV").secret_key
    assert key == SECRET_KEY_FILE.read_text().strip() and len(key) >= 32
    assert SECRET_KEY_FILE.stat().st_mode & 0o777 == 0o600
    assert load_settings(lightserv_mode="TEST").secret_key == key


@pytest.mark.parametrize(
    "proxies",
    ["0.0.0.0/0", "::/0", "10.0.0.0/8", "172.16.0.0/12", "2001:db8::/32", "::ffff:0:0/96", "10.1.2.3, 0.0.0.0/0"],
)
def test_prod_refuses_wide_trusted_proxies_naming_the_setting(proxies):
    prod = dict(lightserv_mode="PROD", secret_key="x" * 48, remote_user_header="X-Remote-User")
    with pytest.raises(
        SettingsError, match="TRUSTED_PROXIES: .* trusts too many addresses.*TRUSTED_PROXIES_ALLOW_WIDE"
    ):
        load_settings(**prod, trusted_proxies=proxies)
    assert load_settings(**prod, trusted_proxies=proxies, trusted_proxies_allow_wide=True).trusted_proxy_networks()
    assert load_settings(lightserv_mode="DEV", remote_user_header="X-Remote-User", trusted_proxies=proxies)


@pytest.mark.parametrize("proxies", ["172.30.0.1/32", "10.1.0.0/16", "10.1.2.3, 192.168.50.0/24", "2001:db8:1::/48"])
def test_prod_accepts_narrow_trusted_proxies(proxies):
    settings = load_settings(lightserv_mode="PROD", secret_key="x" * 48, trusted_proxies=proxies)
    assert settings.trusted_proxy_networks()
