"""The personal API-token page: the token is shown once, stored only as a digest, replaced, revoked,
and every change is in the event log."""

from __future__ import annotations

import re

from sqlalchemy import select

TOKEN = re.compile(r'id="new-token" readonly value="(lsv1_[A-Za-z0-9_-]+)"')


def test_a_user_creates_a_token_sees_it_once_uses_it_and_revokes_it(app, client, login_as, post_form):
    from lightserv.extensions import db
    from lightserv.models import Account, EventLog

    login_as("researcher", "ana")
    page = client.get("/profile/api-token")
    assert page.status_code == 200 and "You have no API token." in page.get_data(as_text=True)

    created = post_form("/profile/api-token", {"create": "Create a token"}, token_page="/profile/api-token")
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    token = TOKEN.search(created.get_data(as_text=True)).group(1)
    again = client.get("/profile/api-token").get_data(as_text=True)
    assert token not in again and "You have a token, created" in again
    with app.app_context():
        stored = db.session.get(Account, "ana").api_token_hash
    assert token not in stored and stored.startswith("sha256$")

    api = app.test_client()
    assert api.get("/api/v1/", headers={"Authorization": f"Bearer {token}"}).get_json()["user"] == "ana"

    revoked = post_form("/profile/api-token", {"revoke": "Revoke the token"}, token_page="/profile/api-token")
    assert revoked.status_code == 302
    assert "You have no API token." in client.get("/profile/api-token").get_data(as_text=True)
    assert api.get("/api/v1/", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    with app.app_context():
        actions = db.session.scalars(select(EventLog.action).where(EventLog.actor == "ana").order_by(EventLog.id))
        assert [a for a in actions if a.startswith("user.api_token")] == [
            "user.api_token_created",
            "user.api_token_revoked",
        ]


def test_the_token_page_needs_csrf_and_a_named_action(client, login_as, post_form):
    login_as("researcher", "ana")
    assert client.post("/profile/api-token", data={"create": "1"}).status_code == 400  # no CSRF token
    assert post_form("/profile/api-token", {}, token_page="/profile/api-token").status_code == 400
    both = post_form("/profile/api-token", {"create": "1", "revoke": "1"}, token_page="/profile/api-token")
    assert both.status_code == 400


def test_the_profile_links_to_the_token_page(client, login_as):
    login_as("researcher", "ana")
    assert 'href="/profile/api-token"' in client.get("/profile").get_data(as_text=True)
