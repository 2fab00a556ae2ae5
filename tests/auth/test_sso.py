"""The SSO header is honoured only from TRUSTED_PROXIES."""

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


@pytest.fixture
def sso_app_with(app, settings_overrides):
    from lightserv import create_app
    from lightserv.settings import Settings

    def build(**changes):
        sso = {"remote_user_header": "X-Remote-User", "trusted_proxies": "10.1.2.3", "auth_local": False}
        return create_app(Settings(**{**settings_overrides, **sso, **changes}))

    return build


def login_rows(app, username):
    from lightserv.models import LoginSession

    with app.app_context():
        return LoginSession.query.filter_by(username=username).all()


def test_an_sso_login_is_one_login_session_that_later_requests_reuse(sso_app):
    client = sso_app.test_client()
    proxy = {"headers": {"X-Remote-User": "ana"}, "environ_base": {"REMOTE_ADDR": "10.1.2.3"}}
    for _ in range(3):
        assert client.get("/requests/", **proxy).status_code == 200
    (row,) = login_rows(sso_app, "ana")
    assert row.method == "sso" and row.ended_at is None


def test_after_an_sso_session_ends_the_next_request_through_the_proxy_starts_a_new_one(sso_app):
    from lightserv.auth.services import set_password

    client = sso_app.test_client()
    proxy = {"headers": {"X-Remote-User": "ana"}, "environ_base": {"REMOTE_ADDR": "10.1.2.3"}}
    assert client.get("/requests/", **proxy).status_code == 200
    with sso_app.app_context():
        set_password("ana", "a long local passphrase", actor="root")  # ends every session of ana
    assert client.get("/requests/", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 401  # no header
    assert client.get("/requests/", **proxy).status_code == 200
    assert sorted(r.end_reason or "live" for r in login_rows(sso_app, "ana")) == ["live", "password_changed"]


def test_with_a_shared_secret_the_header_counts_only_with_the_secret(sso_app_with):
    secret = "proxy-and-app-share-this-0123456789"
    sso = sso_app_with(sso_shared_secret=secret)
    peer = {"environ_base": {"REMOTE_ADDR": "10.1.2.3"}}
    for sent in (None, "wrong", secret[:-1], secret + "x"):
        headers = {"X-Remote-User": "ana"} | ({"X-Lightserv-Proxy-Secret": sent} if sent is not None else {})
        assert sso.test_client().get("/requests/", headers=headers, **peer).status_code == 401, sent
    assert not login_rows(sso, "ana")
    headers = {"X-Remote-User": "ana", "X-Lightserv-Proxy-Secret": secret}
    assert sso.test_client().get("/requests/", headers=headers, **peer).status_code == 200
    # the secret does not make an untrusted peer trusted
    elsewhere = {"environ_base": {"REMOTE_ADDR": "10.9.9.9"}}
    assert sso.test_client().get("/requests/", headers=headers, **elsewhere).status_code == 401


def test_behind_proxy_hops_the_trusted_peer_is_the_connection_not_a_forwarded_address(sso_app_with):
    sso = sso_app_with(proxy_fix_hops=1)
    forwarded = {"X-Remote-User": "ana", "X-Forwarded-For": "198.51.100.4"}
    resp = sso.test_client().get("/requests/", headers=forwarded, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert resp.status_code == 200
    (row,) = login_rows(sso, "ana")
    assert row.ip == "198.51.100.4"  # the client, read through the one trusted hop
    claims_proxy = {"X-Remote-User": "admin", "X-Forwarded-For": "10.1.2.3"}
    resp = sso.test_client().get("/requests/", headers=claims_proxy, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert resp.status_code == 401
