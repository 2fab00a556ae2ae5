"""The data-group check after a submission, on this host's real groups."""

from __future__ import annotations

import grp
import os
import pwd

import pytest


@pytest.fixture
def admin(make_user):
    make_user("root1", roles=["facility_admin"], email="root1@core.example")


def run_check(app, settings, monkeypatch, username, group):
    from lightserv.requests.tasks import check_data_group

    monkeypatch.setattr(settings, "data_group", group)
    monkeypatch.setattr(settings, "it_help_email", "it@campus.example")
    with app.app_context():
        return check_data_group.run(username)


def test_a_member_of_the_data_group_needs_nothing(app, settings, monkeypatch, admin):
    me = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    assert run_check(app, settings, monkeypatch, me, group) == "member"


def test_a_user_outside_the_group_triggers_one_email_to_it_and_admins(app, settings, monkeypatch, admin):
    from lightserv.models import EmailOutbox

    me = pwd.getpwuid(os.getuid()).pw_name
    assert run_check(app, settings, monkeypatch, me, "no-such-group-xyz") == "missing"
    assert run_check(app, settings, monkeypatch, "ghost-user-xyz", "no-such-group-xyz") == "missing"
    assert run_check(app, settings, monkeypatch, me, "no-such-group-xyz") == "missing"  # asked again: no new email
    with app.app_context():
        rows = EmailOutbox.query.filter_by(template="data_access_needed").order_by(EmailOutbox.id).all()
    assert [r.subject for r in rows] == [
        f"lightserv: Data access needed for {me}",
        "lightserv: Data access needed for ghost-user-xyz",
    ]
    assert rows[0].to_addrs == ["it@campus.example", "root1@core.example"]
    assert "has no account on the cluster" in rows[1].body_text


def test_without_a_data_group_nothing_is_checked(app, settings, monkeypatch):
    assert run_check(app, settings, monkeypatch, "anyone", "") == "not_configured"
