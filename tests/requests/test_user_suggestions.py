"""Name suggestions for the sharing and new-request forms (`/users/suggest?q=`): active users whose username,
or a word of whose full name, starts with the text typed; at most 10; for logged-in users only."""

from __future__ import annotations

import pytest


@pytest.fixture
def people(app, make_user):
    from lightserv.db import get_schemas

    names = {"ana": "Ana Lopez", "anabel": "", "zed": "Zed Anaya", "bo": "Bo Tiana_b", "anagone": "Gone Away"}
    for username in names:
        make_user(username, active=username != "anagone")
    for i in range(12):
        make_user(f"bulk{i:02d}")
    with app.app_context():
        for username, full_name in names.items():
            get_schemas().lightsheet.User.update1({"username": username, "full_name": full_name})


def suggested(client, q: str) -> list[str]:
    resp = client.get("/users/suggest", query_string={"q": q})
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    return [u["username"] for u in resp.get_json()["users"]]


def test_usernames_starting_with_the_text_come_first_then_names_with_a_word_starting_with_it(
    client, login_as, people
):
    login_as("researcher", "rita")
    assert suggested(client, "ana") == ["ana", "anabel", "zed"]  # not the inactive anagone, not bo (Tiana_b)
    assert suggested(client, "ANA ") == ["ana", "anabel", "zed"]
    assert suggested(client, "Lop") == ["ana"]
    resp = client.get("/users/suggest?q=zed")
    assert resp.get_json() == {"users": [{"username": "zed", "full_name": "Zed Anaya"}]}


def test_at_most_ten_and_nothing_for_no_text_or_a_wildcard(client, login_as, people):
    login_as("researcher", "rita")
    assert suggested(client, "bulk") == [f"bulk{i:02d}" for i in range(10)]
    assert suggested(client, "") == [] and suggested(client, "   ") == []
    assert suggested(client, "%") == [] and suggested(client, "_") == []
    assert suggested(client, "ana_") == []  # "_" is a literal underscore, not any character


def test_anonymous_visitors_get_no_names(client, people):
    resp = client.get("/users/suggest?q=ana")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
