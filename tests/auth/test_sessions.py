"""Login sessions end on logout, password change, deactivation, 30 idle minutes and 12 hours; a user sees and
ends their other sessions; a saved cookie replayed after any of these logs nobody in."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support.auth import csrf_from, post_login_form

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"


def browser(app, address="192.0.2.1", agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"):
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=address, HTTP_USER_AGENT=agent)
    return client


def log_in(client, username="ana", password=PASSWORD):
    resp = post_login_form(client, username, password)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


def saved_cookie(client) -> str:
    return client.get_cookie("session").value


def replay(app, cookie: str):
    """A fresh browser presenting a saved session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief


def logged_in(client) -> bool:
    return client.get("/requests/").status_code == 200


def post(client, url, data=None, token_page="/profile"):
    token = csrf_from(client.get(token_page).get_data(as_text=True))
    return client.post(url, data={**(data or {}), "csrf_token": token})


def rows(app, username="ana"):
    from lightserv.extensions import db
    from lightserv.models import LoginSession

    with app.app_context():
        return db.session.query(LoginSession).filter_by(username=username).order_by(LoginSession.created_at).all()


def shift(app, **deltas: dt.timedelta):
    """Move the timestamps of ana's sessions into the past."""
    from sqlalchemy import text

    from lightserv.extensions import db

    with app.app_context():
        for column, delta in deltas.items():
            assert column in ("created_at", "last_seen_at")
            sql = f"UPDATE login_session SET {column} = {column} - INTERVAL :s SECOND WHERE username = 'ana'"
            db.session.execute(text(sql), {"s": int(delta.total_seconds())})
        db.session.commit()


@pytest.fixture
def ana(make_user):
    return make_user("ana", password=PASSWORD)


def test_logout_ends_the_session_and_its_saved_cookie(app, ana):
    client = log_in(browser(app))
    cookie = saved_cookie(client)
    assert logged_in(replay(app, cookie))
    assert post(client, "/logout", token_page="/requests/").status_code == 302
    assert not logged_in(replay(app, cookie))
    (row,) = rows(app)
    assert row.ended_at is not None and row.end_reason == "logout"


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(app, ana):
    here, there = log_in(browser(app)), log_in(browser(app, "198.51.100.2"))
    there_cookie = saved_cookie(there)
    resp = post(
        here,
        "/profile",
        {
            "password-current_password": PASSWORD,
            "password-new_password": NEW_PASSWORD,
            "password-confirm": NEW_PASSWORD,
            "password-submit_password": "1",
        },
    )
    assert resp.status_code == 302
    assert logged_in(here)
    assert not logged_in(there) and not logged_in(replay(app, there_cookie))
    # two logins in one second share created_at: tell them apart by their address
    assert {r.ip: r.end_reason for r in rows(app)} == {"192.0.2.1": None, "198.51.100.2": "password_changed"}


def test_an_admin_setting_a_password_ends_every_session(app, ana):
    from lightserv.auth.services import set_password

    client = log_in(browser(app))
    with app.app_context():
        set_password("ana", NEW_PASSWORD, actor="root")
    assert not logged_in(client)


def test_deactivation_ends_every_session_for_good(app, ana):
    from lightserv.auth.services import set_active

    client = log_in(browser(app))
    cookie = saved_cookie(client)
    with app.app_context():
        set_active("ana", False, actor="root")
    assert replay(app, cookie).get("/requests/").status_code == 403  # told why, not served
    with app.app_context():
        set_active("ana", True, actor="root")
    assert not logged_in(replay(app, cookie))
    assert not logged_in(client)
    assert [r.end_reason for r in rows(app)] == ["deactivated"]


def test_a_session_ends_after_30_idle_minutes(app, ana):
    client = log_in(browser(app))
    shift(app, last_seen_at=dt.timedelta(minutes=29), created_at=dt.timedelta(minutes=29))
    assert logged_in(client)  # used within 30 minutes: still on, and seen now
    shift(app, last_seen_at=dt.timedelta(minutes=31))
    resp = client.get("/requests/")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    assert rows(app)[0].end_reason == "idle"


def test_a_session_ends_12_hours_after_login_however_busy(app, ana):
    client = log_in(browser(app))
    shift(app, created_at=dt.timedelta(hours=12, minutes=1))
    assert not logged_in(client)
    assert rows(app)[0].end_reason == "expired"


def test_last_seen_is_written_at_most_once_a_minute(app, ana):
    client = log_in(browser(app))
    shift(app, last_seen_at=dt.timedelta(seconds=30))
    before = rows(app)[0].last_seen_at
    assert logged_in(client)
    assert rows(app)[0].last_seen_at == before
    shift(app, last_seen_at=dt.timedelta(seconds=50))  # now 80 s ago
    assert logged_in(client)
    assert rows(app)[0].last_seen_at > before


def test_the_profile_lists_live_sessions_and_ends_one_of_them(app, ana):
    here = log_in(browser(app))
    there = log_in(browser(app, "198.51.100.2", "Mozilla/5.0 (Macintosh) Safari/605.1.15"))
    page = here.get("/profile").get_data(as_text=True)
    table = page.split('data-testid="login-sessions"')[1].split("</table>")[0]
    assert "192.0.2.1" in table and "198.51.100.2" in table
    assert "Firefox/128.0" in table and "Safari/605.1.15" in table and "This session" in table
    other = next(r for r in rows(app) if r.ip == "198.51.100.2")
    assert f"/profile/sessions/{other.id}/end" in table
    resp = post(here, f"/profile/sessions/{other.id}/end")
    assert resp.status_code == 302
    assert "1 other session ended." in here.get("/profile").get_data(as_text=True)
    assert not logged_in(there) and logged_in(here)
    assert "198.51.100.2" not in here.get("/profile").get_data(as_text=True).split('data-testid="login-sessions"')[1]


def test_end_all_other_sessions(app, ana):
    here = log_in(browser(app))
    others = [log_in(browser(app, f"198.51.100.{i}")) for i in (2, 3)]
    assert "End all other sessions" in here.get("/profile").get_data(as_text=True)
    assert post(here, "/profile/sessions/end-others").status_code == 302
    assert logged_in(here) and not any(logged_in(c) for c in others)
    from lightserv.models import EventLog

    with app.app_context():
        (event,) = EventLog.query.filter_by(action="user.sessions_ended").all()
    assert event.actor == "ana" and "ended 2 other sessions" in event.summary


def test_a_user_cannot_end_someone_elses_session(app, ana, make_user):
    make_user("bob", password=PASSWORD)
    victim = log_in(browser(app, "198.51.100.2"), "bob")
    (bob_row,) = rows(app, "bob")
    attacker = log_in(browser(app))
    assert post(attacker, f"/profile/sessions/{bob_row.id}/end").status_code == 404
    assert logged_in(victim)


def test_ending_a_session_needs_the_csrf_token(app, ana):
    here, there = log_in(browser(app)), log_in(browser(app, "198.51.100.2"))
    other = next(r for r in rows(app) if r.ip == "198.51.100.2")
    assert here.post(f"/profile/sessions/{other.id}/end").status_code == 400
    assert here.post("/profile/sessions/end-others").status_code == 400
    assert logged_in(there)


def test_a_cookie_that_only_names_a_user_logs_nobody_in(app, ana):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"], sess["_fresh"] = "ana", True
    assert not logged_in(client)


def test_a_remember_cookie_cannot_revive_a_session(app, ana):
    from flask_login.utils import encode_cookie

    client = log_in(browser(app))
    assert client.get_cookie("remember_token") is None  # never issued
    post(client, "/logout", token_page="/requests/")
    with app.test_request_context():
        remember = encode_cookie("ana")  # signed with the app's real key
    client.set_cookie("remember_token", remember)
    assert not logged_in(client)
    fresh = app.test_client()
    fresh.set_cookie("remember_token", remember)
    assert not logged_in(fresh)
