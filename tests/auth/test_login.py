"""Logging in and out: local passwords, throttling, safe `next`, inactive users, CSRF."""

from __future__ import annotations

import time

import pytest

from tests.support.auth import csrf_from, post_login_form

PASSWORD = "correct horse battery"


def login(client, username, password, next_value=""):
    return post_login_form(client, username, password, next_value)


def test_correct_password_logs_in_and_lands_on_the_home_page(client, make_user):
    make_user("ana", password=PASSWORD)
    resp = login(client, "ana", PASSWORD)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "Signed in as" in page and "ana" in page


def test_login_is_recorded_in_the_event_log_and_on_the_user(app, client, make_user):
    from lightserv.db import get_schemas
    from lightserv.models import EventLog

    make_user("ana", password=PASSWORD)
    login(client, "ana", PASSWORD)
    with app.app_context():
        events = EventLog.query.filter_by(action="user.logged_in").all()
        assert [e.actor for e in events] == ["ana"]
        row = (get_schemas().lightsheet.User & {"username": "ana"}).to_dicts()[0]
        assert row["last_login_at"] is not None


def test_wrong_password_is_refused_with_the_message_next_to_the_field(client, make_user):
    make_user("ana", password=PASSWORD)
    resp = login(client, "ana", "not the password")
    assert resp.status_code == 401
    html = resp.get_data(as_text=True)
    assert 'class="invalid-feedback"' in html and "Unknown username or wrong password." in html
    assert "Signed in as" not in client.get("/about").get_data(as_text=True)


def test_unknown_user_gets_the_same_refusal_as_a_wrong_password(client):
    resp = login(client, "nobody", PASSWORD)
    assert resp.status_code == 401
    assert "Unknown username or wrong password." in resp.get_data(as_text=True)


def test_sso_only_account_cannot_log_in_with_any_password(client, make_user):
    make_user("sso-user")  # no password: SSO only
    assert login(client, "sso-user", "").status_code == 400  # password is required
    assert login(client, "sso-user", PASSWORD).status_code == 401


def test_after_five_failures_the_account_waits_longer_each_time_even_for_the_right_password(client, make_user):
    make_user("ana", password=PASSWORD)
    for _ in range(5):
        assert login(client, "ana", "wrong-password").status_code == 401
    resp = login(client, "ana", PASSWORD)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "1"
    assert "Too many failed logins. Try again in 1 second." in resp.get_data(as_text=True)
    time.sleep(1.1)
    assert login(client, "ana", "wrong-password").status_code == 401  # the sixth failure: 2 s now
    resp = login(client, "ana", PASSWORD)
    assert resp.status_code == 429 and "Try again in 2 seconds." in resp.get_data(as_text=True)
    time.sleep(2.1)
    assert login(client, "ana", PASSWORD).status_code == 302


def test_twenty_failures_from_one_address_make_that_address_wait_but_not_others(client, make_user):
    make_user("ana", password=PASSWORD)
    for i in range(20):
        assert login(client, f"ghost{i}", "whatever-password").status_code == 401
    resp = login(client, "ana", PASSWORD)
    assert resp.status_code == 429 and "Try again in 1 second." in resp.get_data(as_text=True)
    elsewhere = client.application.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert login(elsewhere, "ana", PASSWORD).status_code == 302


@pytest.mark.parametrize("target", ["/requests/?page=2", "/profile"])
def test_a_relative_next_is_followed(client, make_user, target):
    make_user("ana", password=PASSWORD)
    resp = login(client, "ana", PASSWORD, next_value=target)
    assert resp.headers["Location"] == target


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        " //evil.example",
        "\x00/requests/",
    ],
)
def test_an_open_redirect_next_is_ignored(client, make_user, target):
    make_user("ana", password=PASSWORD)
    resp = login(client, "ana", PASSWORD, next_value=target)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/"


def test_anonymous_visit_redirects_to_login_with_a_safe_next(client):
    resp = client.get("/requests/?page=2")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login?next=")


def test_inactive_user_is_refused_with_403_naming_the_facility_contact(client, make_user):
    make_user("ana", password=PASSWORD, active=False)
    resp = login(client, "ana", PASSWORD)
    assert resp.status_code == 403
    assert "core@test.example" in resp.get_data(as_text=True)


def test_a_user_deactivated_while_logged_in_is_refused_on_the_next_page(app, client, make_user, login_as):
    name = login_as("researcher")
    assert client.get("/requests/").status_code == 200
    from lightserv.auth.services import set_active

    with app.app_context():
        set_active(name, False, actor="test")
    resp = client.get("/requests/")
    assert resp.status_code == 403
    assert "core@test.example" in resp.get_data(as_text=True)


def test_post_without_csrf_token_is_refused_with_400(client, make_user):
    make_user("ana", password=PASSWORD)
    resp = client.post("/login", data={"username": "ana", "password": PASSWORD})
    assert resp.status_code == 400
    assert "Signed in as" not in client.get("/about").get_data(as_text=True)


def test_post_with_a_forged_csrf_token_is_refused_with_400(client, make_user):
    make_user("ana", password=PASSWORD)
    client.get("/login")
    resp = client.post("/login", data={"username": "ana", "password": PASSWORD, "csrf_token": "forged"})
    assert resp.status_code == 400


def test_an_expired_form_comes_back_with_the_input_and_status_400(app, client, make_user):
    make_user("ana", password=PASSWORD)
    token = csrf_from(client.get("/login").get_data(as_text=True))
    app.config["WTF_CSRF_TIME_LIMIT"] = 1
    try:
        time.sleep(2.2)
        resp = client.post("/login", data={"username": "ana", "password": PASSWORD, "csrf_token": token})
    finally:
        app.config["WTF_CSRF_TIME_LIMIT"] = 8 * 3600
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "This form expired. Please submit it again." in html
    assert 'value="ana"' in html  # the user's input is kept
    assert "Signed in as" not in client.get("/about").get_data(as_text=True)


def test_logout_needs_a_post_and_clears_the_session(client, login_as):
    login_as("researcher")
    assert client.get("/logout").status_code == 200
    assert client.get("/requests/").status_code == 200  # a GET never logs out
    token = csrf_from(client.get("/requests/").get_data(as_text=True))
    resp = client.post("/logout", data={"csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"
    assert client.get("/requests/").status_code == 302


def test_session_cookie_is_httponly_and_samesite_lax(client, make_user):
    make_user("ana", password=PASSWORD)
    resp = login(client, "ana", PASSWORD)
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_profile_changes_email_and_password(app, client, make_user, post_form):
    make_user("ana", password=PASSWORD)
    login(client, "ana", PASSWORD)
    resp = post_form(
        "/profile", {"profile-email": "Ana.New@Lab.example", "profile-submit_profile": "1"}, token_page="/profile"
    )
    assert resp.status_code == 302
    assert "ana.new@lab.example" in client.get("/profile").get_data(as_text=True)
    resp = post_form(
        "/profile",
        {
            "password-current_password": "wrong",
            "password-new_password": "another password",
            "password-confirm": "another password",
            "password-submit_password": "1",
        },
        token_page="/profile",
    )
    assert resp.status_code == 400 and "The current password is wrong." in resp.get_data(as_text=True)
    resp = post_form(
        "/profile",
        {
            "password-current_password": PASSWORD,
            "password-new_password": "another password",
            "password-confirm": "another password",
            "password-submit_password": "1",
        },
        token_page="/profile",
    )
    assert resp.status_code == 302
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/about").get_data(as_text=True))})
    assert login(client, "ana", "another password").status_code == 302
