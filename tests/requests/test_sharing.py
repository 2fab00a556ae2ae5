"""Sharing a request with auditors and collaborators."""

from __future__ import annotations

import re

import pytest

from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.models import Account, EmailOutbox, EventLog
from tests.conftest import csrf_from
from tests.factories import new_request, submit
from tests.requests.conftest import emails_with_subject

URL = "/requests/ana/brains/access"
KEY = {"username": "ana", "request_name": "brains"}


@pytest.fixture
def brains(app, make_user):
    make_user("ana")
    make_user("bo", email="bo@lab.example")
    submit(app, new_request("ana", "brains", auditors=["bo"]))
    return KEY


def post(client, action: str | None, **fields):
    token = csrf_from(client.get("/about").get_data(as_text=True))
    data = {"csrf_token": token, **fields}
    if action is not None:
        data["action"] = action
    return client.post(URL, data=data)


def access(app) -> dict[str, tuple[str, int]]:
    with app.app_context():
        rows = (get_schemas().lightsheet.Request.Access & KEY).to_dicts()
    return {r["grantee"]: (r["access_level"], r["cc_on_emails"]) for r in rows}


def events(app) -> list[EventLog]:
    with app.app_context():
        return db.session.scalars(
            db.select(EventLog).where(EventLog.action == "request.access_changed").order_by(EventLog.id)
        ).all()


def test_the_owner_adds_an_existing_user_as_collaborator(app, client, login_as, brains, make_user):
    make_user("newbie")
    login_as("researcher", "ana")
    resp = post(client, "add", grantee=" Newbie ", access_level="collaborator")
    assert resp.status_code == 303
    assert access(app)["newbie"] == ("collaborator", 0)
    (event,) = events(app)
    assert event.before is None
    assert event.after == {"grantee": "newbie", "access_level": "collaborator", "cc_on_emails": 0}
    assert (event.actor, event.request_name) == ("ana", "brains")
    assert "newbie now has collaborator access to this request." in client.get(resp.headers["Location"]).get_data(
        as_text=True
    )


def test_the_grantee_is_emailed_on_being_added(app, client, login_as, brains, make_user, smtp, running_worker):
    make_user("cy", email="cy@lab.example")
    login_as("researcher", "ana")
    post(client, "add", grantee="cy", access_level="auditor")
    ((to, msg),) = emails_with_subject(smtp, "lightserv: You have access to ana/brains")
    assert to == ["cy@lab.example"]
    body = msg.get_content()
    assert "as auditor" in body and "https://lightserv.test.example/requests/ana/brains" in body


def test_changing_the_level_toggling_cc_and_removing(app, client, login_as, brains):
    login_as("researcher", "ana")
    assert post(client, "change_level", grantee="bo", access_level="collaborator").status_code == 303
    assert access(app)["bo"] == ("collaborator", 0)
    assert post(client, "toggle_cc", grantee="bo").status_code == 303
    assert access(app)["bo"] == ("collaborator", 1)
    assert post(client, "toggle_cc", grantee="bo").status_code == 303
    assert access(app)["bo"] == ("collaborator", 0)
    post(client, "toggle_cc", grantee="bo")
    post(client, "change_level", grantee="bo", access_level="auditor")
    assert access(app)["bo"] == ("auditor", 0)  # auditors never receive the request's emails
    assert post(client, "remove", grantee="bo").status_code == 303
    assert "bo" not in access(app)
    logged = [(e.before, e.after) for e in events(app)]
    assert logged[0] == (
        {"grantee": "bo", "access_level": "auditor", "cc_on_emails": 0},
        {"grantee": "bo", "access_level": "collaborator", "cc_on_emails": 0},
    )
    assert logged[-1] == ({"grantee": "bo", "access_level": "auditor", "cc_on_emails": 0}, None)
    assert len(logged) == 6
    with app.app_context():  # only additions are emailed
        assert db.session.scalars(db.select(EmailOutbox).where(EmailOutbox.template == "access_granted")).all() == []


@pytest.mark.parametrize("name", ["nosuchuser", "gone"])
def test_sharing_with_a_name_that_is_no_active_user_creates_nothing_and_says_so_next_to_the_field(
    app, client, login_as, brains, make_user, name
):
    make_user("gone", active=False)
    login_as("researcher", "ana")
    resp = post(client, "add", grantee=name, access_level="collaborator")
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    message = f"No active user is named &#39;{name}&#39;. Choose a name from the suggestions."
    next_to_field = (
        r'<input class="form-control is-invalid" type="text" id="sharing-grantee"[^>]*>\s*<datalist[^>]*></datalist>'
        rf'\s*<div class="invalid-feedback" data-testid="grantee-error">{re.escape(message)}</div>'
    )
    assert re.search(next_to_field, html)
    assert access(app) == {"bo": ("auditor", 0)} and events(app) == []
    with app.app_context():
        emails = db.session.scalars(db.select(EmailOutbox)).all()
        assert [e.template for e in emails if e.template == "access_granted" or name in str(e.to_addrs)] == []
        if name == "nosuchuser":
            assert not get_schemas().lightsheet.User & {"username": name}
            assert db.session.get(Account, name) is None


def test_an_admin_may_manage_access(app, client, login_as, brains, make_user):
    make_user("dee")
    login_as("admin")
    assert post(client, "add", grantee="dee", access_level="auditor").status_code == 303
    assert access(app)["dee"] == ("auditor", 0)


@pytest.mark.parametrize(
    ("action", "fields", "message"),
    [
        ("add", {"grantee": "Not Valid!", "access_level": "auditor"}, "&#39;Not Valid!&#39; is not a valid username."),
        ("add", {"grantee": "", "access_level": "auditor"}, "Please enter a username."),
        ("add", {"grantee": "ana", "access_level": "auditor"}, "The owner already has access."),
        ("add", {"grantee": "bo", "access_level": "collaborator"}, "bo already has access to this request."),
        ("add", {"grantee": "cy", "access_level": "owner"}, "Please choose auditor or collaborator."),
        ("change_level", {"grantee": "cy", "access_level": "auditor"}, "cy has no access to this request."),
        ("remove", {"grantee": "cy"}, "cy has no access to this request."),
        ("toggle_cc", {"grantee": "bo"}, "Only collaborators can receive the request&#39;s emails."),
    ],
)
def test_invalid_changes_are_refused_with_their_message(app, client, login_as, brains, action, fields, message):
    login_as("researcher", "ana")
    resp = post(client, action, **fields)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert message in html
    assert 'data-testid="sharing"' in html
    if action == "add":
        assert 'class="invalid-feedback"' in html  # next to the field that caused it
    assert access(app) == {"bo": ("auditor", 0)}
    assert events(app) == []


@pytest.mark.parametrize("action", [None, "", "promote", "delete"])
def test_an_unknown_action_is_a_400_with_a_message(app, client, login_as, brains, action):
    login_as("researcher", "ana")
    resp = post(client, action, grantee="cy", access_level="auditor")
    assert resp.status_code == 400
    assert "Unknown form action." in resp.get_data(as_text=True)
    assert access(app) == {"bo": ("auditor", 0)}


@pytest.mark.parametrize(("who", "status"), [("bo", 403), ("stranger", 404), ("clearing", 403), ("processing", 403)])
def test_only_the_owner_or_an_admin_may_manage_access(app, client, login_as, brains, who, status):
    if who == "bo":
        login_as("researcher", "bo")
    elif who == "stranger":
        login_as("researcher")
    else:
        login_as(who)
    assert post(client, "add", grantee="cy", access_level="auditor").status_code == status
    assert "cy" not in access(app)


def test_the_sharing_section_lists_everyone_and_offers_controls_only_when_allowed(app, brains):
    from flask import render_template

    from lightserv.requests.services_manage import list_access

    with app.test_request_context():
        req = (get_schemas().lightsheet.Request & KEY).to_dicts()[0]
        rows = list_access("ana", "brains")
        assert rows[0]["email"] == "bo@lab.example"
        managed = render_template("requests/_sharing.html", req=req, access_rows=rows, can_manage=True)
        read_only = render_template("requests/_sharing.html", req=req, access_rows=rows, can_manage=False)
    assert "<td>ana</td><td>Owner</td>" in managed and "<td>bo</td>" in managed
    for control in ('value="add"', 'value="change_level"', 'value="remove"', 'name="csrf_token"'):
        assert control in managed and control not in read_only
