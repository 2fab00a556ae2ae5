"""New passwords: at least 12 characters and not common or guessable (zxcvbn score 3 or more); the reason
shows next to the field on the profile and the admin's new-user form."""

from __future__ import annotations

import re

import pytest

from tests.conftest import csrf_from

PASSWORD = "correct horse battery"
WEAK = {
    "1111111111": "at least 12 characters",
    "111111111111": "too common or too easy to guess",
    "password1234": "too common or too easy to guess",
    "qwertyuiop123": "too common or too easy to guess",
    "ana-ana-ana-ana": "too common or too easy to guess",  # the username repeated
}


def feedback_of(html: str, field_id: str) -> str:
    match = re.search(rf'id="{re.escape(field_id)}"[^>]*>\s*<div class="invalid-feedback[^"]*">([^<]*)<', html)
    assert match, f"no message next to {field_id}"
    return match.group(1)


def test_the_policy_refuses_short_common_and_guessable_passwords():
    from lightserv.auth.passwords import password_problem

    for weak, reason in WEAK.items():
        assert reason in (password_problem(weak, ["ana"]) or ""), weak
    for strong in (PASSWORD, "viewer browser password", "Tr0ub4dor&3-horse"):
        assert password_problem(strong, ["ana"]) is None, strong
    assert "at most 256" in password_problem("x" * 257)


@pytest.mark.parametrize("weak", sorted(WEAK))
def test_the_profile_refuses_a_weak_new_password_next_to_the_field(app, client, make_user, weak):
    from lightserv.auth.passwords import verify_password
    from lightserv.extensions import db
    from lightserv.models import Account

    make_user("ana", password=PASSWORD)
    token = csrf_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"username": "ana", "password": PASSWORD, "csrf_token": token})
    token = csrf_from(client.get("/profile").get_data(as_text=True))
    form = {
        "password-current_password": PASSWORD,
        "password-new_password": weak,
        "password-confirm": weak,
        "password-submit_password": "1",
        "csrf_token": token,
    }
    resp = client.post("/profile", data=form)
    assert resp.status_code == 400
    assert WEAK[weak] in feedback_of(resp.get_data(as_text=True), "password-new_password")
    with app.app_context():
        assert verify_password(db.session.get(Account, "ana").password_hash, PASSWORD)


def test_an_admin_cannot_create_a_user_with_a_weak_password(app, client, login_as):
    login_as("admin")
    token = csrf_from(client.get("/admin/users").get_data(as_text=True))
    form = {"username": "newbie", "password": "1111111111", "csrf_token": token}
    resp = client.post("/admin/users/new", data=form)
    assert resp.status_code == 400
    assert "at least 12 characters" in feedback_of(resp.get_data(as_text=True), "password")
    from lightserv.extensions import db
    from lightserv.models import Account

    with app.app_context():
        assert db.session.get(Account, "newbie") is None
    form["password"] = "a sturdy first passphrase"
    assert client.post("/admin/users/new", data=form).status_code == 302


def test_the_command_line_refuses_a_weak_password(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "cli-user", "--password", "password1234"])
    assert result.exit_code != 0 and "too common or too easy to guess" in result.output


def test_the_command_line_says_why_it_refuses_a_role_or_a_password(app):
    runner = app.test_cli_runner()
    unknown_role = runner.invoke(args=["grant-role", "nobody", "wizard"])
    assert unknown_role.exit_code != 0 and "Unknown role 'wizard'" in unknown_role.output
    no_user = runner.invoke(args=["grant-role", "nobody", "facility_admin"])
    assert no_user.exit_code != 0 and "There is no user 'nobody'" in no_user.output
    weak = runner.invoke(args=["set-password", "nobody"], input="password1234\npassword1234\n")
    assert weak.exit_code != 0 and "Error:" in weak.output


def test_the_demo_password_meets_the_policy(tmp_path):
    from lightserv.auth.passwords import password_problem
    from lightserv.demo import demo_password

    for i in range(5):
        assert password_problem(demo_password(tmp_path / f"demo-password-{i}"), ["admin", "researcher"]) is None
