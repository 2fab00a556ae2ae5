"""The SSO header is honoured only from TRUSTED_PROXIES (README §4, pitfall 1)."""

from __future__ import annotations

import pytest


@pytest.fixture
def sso_app(app, settings_overrides):
    """A second app on the same databases, configured for header SSO without local passwords."""
    from lightserv import create_app
    from lightserv.settings import Settings

    sso = create_app(
        Settings(
            **{
                **settings_overrides,
                "remote_user_header": "X-Remote-User",
                "trusted_proxies": "10.1.2.3, 192.168.50.0/24",
                "auth_local": False,
            }
        )
    )
    return sso


def test_trusted_proxy_header_logs_the_user_in_and_creates_them_on_first_sight(sso_app):
    from lightserv.db import get_schemas

    client = sso_app.test_client()
    resp = client.get("/requests/", headers={"X-Remote-User": "newbie"}, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert resp.status_code == 200
    assert "newbie" in resp.get_data(as_text=True)
    with sso_app.app_context():
        row = (get_schemas().lightsheet.User & {"username": "newbie"}).to_dicts()[0]
    assert row["email"] == "newbie@test.example"


def test_a_proxy_network_range_is_trusted(sso_app):
    client = sso_app.test_client()
    resp = client.get("/requests/", headers={"X-Remote-User": "ana"}, environ_base={"REMOTE_ADDR": "192.168.50.7"})
    assert resp.status_code == 200


def test_forged_header_from_an_untrusted_address_is_refused_with_401(sso_app):
    from lightserv.db import get_schemas

    client = sso_app.test_client()
    resp = client.get("/requests/", headers={"X-Remote-User": "admin"}, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert resp.status_code == 401
    with sso_app.app_context():
        assert not (get_schemas().lightsheet.User & {"username": "admin"})


def test_without_a_header_and_without_local_accounts_a_page_is_401(sso_app):
    client = sso_app.test_client()
    assert client.get("/requests/", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 401
    assert client.get("/login", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 401


def test_an_invalid_username_in_the_header_is_refused(sso_app):
    client = sso_app.test_client()
    resp = client.get(
        "/requests/", headers={"X-Remote-User": "Robert'); DROP TABLE--"}, environ_base={"REMOTE_ADDR": "10.1.2.3"}
    )
    assert resp.status_code == 401


def test_inactive_sso_user_is_refused_with_403(sso_app, make_user):
    make_user("gone", active=False)
    client = sso_app.test_client()
    resp = client.get("/requests/", headers={"X-Remote-User": "gone"}, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert resp.status_code == 403


def test_settings_require_trusted_proxies_with_a_header():
    from lightserv.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        load_settings(lightserv_mode="TEST", remote_user_header="X-Remote-User")
