"""Login throttling: per account and per client address, with a growing wait, an hourly cap per account, one
event per lockout, and the client address read through PROXY_FIX_HOPS trusted proxies only."""

from __future__ import annotations

import pytest

from tests.support.auth import csrf_from
from tests.support.auth import post_login_form as login

PASSWORD = "correct horse battery"


def client_at(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def throttle_events(app) -> list:
    from lightserv.models import EventLog

    with app.app_context():
        return EventLog.query.filter_by(action="auth.login_throttled").all()


@pytest.fixture
def app_with(app, settings_overrides):
    """Another app on the same databases and Redis, with some settings changed."""
    from lightserv import create_app
    from lightserv.settings import Settings

    return lambda **changes: create_app(Settings(**{**settings_overrides, **changes}))


def test_two_users_behind_one_address_one_failing_ten_times_the_other_still_logs_in(app, make_user):
    make_user("ana", password=PASSWORD)
    make_user("bob", password=PASSWORD)
    typist, colleague = client_at(app, "192.0.2.10"), client_at(app, "192.0.2.10")
    answers = [login(typist, "ana", "not the password").status_code for _ in range(10)]
    assert answers == [401] * 5 + [429] * 5  # ana waits from the sixth try on
    assert login(colleague, "bob", PASSWORD).status_code == 302
    assert "Signed in as" in colleague.get("/about").get_data(as_text=True)


def test_hammering_an_unknown_username_never_stops_a_real_user_at_another_address(app, make_user):
    make_user("ana", password=PASSWORD)
    attacker = client_at(app, "203.0.113.66")
    answers = {login(attacker, "nosuchuser", "guess-number-1").status_code for _ in range(30)}
    assert answers == {401, 429}
    assert login(client_at(app, "198.51.100.7"), "ana", PASSWORD).status_code == 302
    assert login(attacker, "ana", PASSWORD).status_code == 302  # nor ana at the attacker's address (5 failures)


def test_a_lockout_is_one_event_log_row_per_episode(app, make_user):
    make_user("ana", password=PASSWORD)
    client = client_at(app, "192.0.2.20")
    for _ in range(5):
        login(client, "ana", "not the password")
    for _ in range(4):
        assert login(client, "ana", PASSWORD).status_code == 429
    (event,) = throttle_events(app)
    assert event.entity_type == "user" and event.entity_key == {"username": "ana"}
    assert event.actor_ip == "192.0.2.20" and "ana throttled" in event.summary
    assert event.after == {"retry_after_seconds": 1}


def test_at_most_100_failed_logins_per_hour_per_account(app_with, make_user):
    # back-off out of the way, so only the hourly cap is left to stop the guesses
    app = app_with(login_free_failures=1000, login_address_free_failures=1000)
    make_user("ana", password=PASSWORD)
    guesser = app.test_client()
    token = csrf_from(guesser.get("/login").get_data(as_text=True))
    for i in range(100):
        form = {"username": "ana", "password": f"guess number {i}", "csrf_token": token}
        resp = guesser.post("/login", data=form, environ_base={"REMOTE_ADDR": f"198.51.100.{i + 1}"})
        assert resp.status_code == 401, i
    resp = login(client_at(app, "192.0.2.99"), "ana", PASSWORD)
    assert resp.status_code == 429
    seconds = int(resp.headers["Retry-After"])
    assert 3500 < seconds <= 3600
    assert f"Try again in {seconds} seconds." in resp.get_data(as_text=True)
    assert login(client_at(app, "192.0.2.99"), "bob", PASSWORD).status_code == 401  # other accounts go on
    assert len(throttle_events(app)) == 1


def test_x_forwarded_for_names_the_client_only_with_proxy_hops_configured(app, app_with, make_user):
    make_user("ana", password=PASSWORD)
    behind_proxy = app_with(proxy_fix_hops=1)
    proxy = client_at(behind_proxy, "10.0.0.1")
    sprayer = {"headers": {"X-Forwarded-For": "203.0.113.5"}}
    for i in range(20):
        assert login(proxy, f"ghost{i}", "guess-number-1", **sprayer).status_code == 401
    assert login(proxy, "ana", PASSWORD, **sprayer).status_code == 429
    (event,) = throttle_events(app)
    assert event.entity_key == {"address": "203.0.113.5"} and event.actor_ip == "203.0.113.5"
    # another client behind the same proxy is not the sprayer
    assert login(proxy, "ana", PASSWORD, headers={"X-Forwarded-For": "198.51.100.8"}).status_code == 302

    # without hops the header is the client's own claim: the proxy's address is the one that waits
    direct = client_at(app, "10.0.0.2")
    for i in range(20):
        login(direct, f"ghost{i}", "guess-number-2", headers={"X-Forwarded-For": f"198.51.100.{i + 1}"})
    resp = login(direct, "ana", PASSWORD, headers={"X-Forwarded-For": "198.51.100.200"})
    assert resp.status_code == 429
    assert throttle_events(app)[-1].entity_key == {"address": "10.0.0.2"}
