"""Every request for viewer data proves the right to see it: the proxy path alone is not enough. On the real
launcher (process back end), configurable-http-proxy and the cloudvolume and neuroglancer server programs:
no cookie answers 401, a cookie of another session or a forged one 403, only the session's owner gets a
cookie, and a user removed from the request loses their live view at the next clean-up."""

from __future__ import annotations

import time

from lib import viewer_access
from tests.support.auth import sign_in

from .conftest import OWNER, REQUEST
from .test_sessions import enter, fetch, open_link, post, rows, run, session_row, start_view


def urls(base: str, session_id: str, ng_token: str) -> list[str]:
    """The Neuroglancer page, a layer's info and one of its chunks."""
    return [
        f"{base}/nglancer/{session_id}/v/{ng_token}/",
        f"{base}/cv/{session_id}/raw_ch488_left/info",
        f"{base}/cv/{session_id}/raw_ch488_left/5000_5000_10000/0-128_0-96_0-1",
    ]


def test_viewer_data_answers_only_the_owners_browser(app, client, world, viewer_settings, chp, make_user):
    from lightserv.viewer.launch import access_key, launch

    stranger = make_user("mallory")
    left = world.layer("raw", "488", "left")
    mine = start_view(app, client, world, left)
    assert run(app, launch, mine) == "ready"
    targets = urls(chp.public_url, mine, session_row(app, mine).ng_token)
    _, cookie = enter(client, mine)
    assert [fetch(u, cookie) for u in targets] == [200, 200, 200]
    assert [fetch(u) for u in targets] == [401, 401, 401]

    # another logged-in user: the session is like a missing one, and no cookie they can make opens it
    sign_in(client, stranger)
    assert client.get(f"/viewer/session/{mine}/enter").status_code == 404
    forged_key = viewer_access.session_key("guessed-secret", mine)
    forged = f"{viewer_access.COOKIE}={viewer_access.cookie_value(forged_key, mine, int(time.time()) + 600)}"
    assert [fetch(u, forged) for u in targets] == [403, 403, 403]
    with app.app_context():
        expired = viewer_access.cookie_value(access_key(mine), mine, int(time.time()) - 1)
    assert [fetch(u, f"{viewer_access.COOKIE}={expired}") for u in targets] == [403, 403, 403]

    # a valid cookie of another session opens only that one
    sign_in(client, OWNER)
    other = start_view(app, client, world, left)
    assert run(app, launch, other) == "ready"
    _, other_cookie = enter(client, other)
    assert [fetch(u, other_cookie) for u in targets] == [403, 403, 403]


def test_someone_who_may_see_a_session_but_does_not_own_it_gets_no_cookie(app, client, world, viewer_settings,
                                                                         make_user):  # fmt: skip
    from lightserv.viewer.launch import launch

    admin = make_user("boss", roles=["facility_admin"])
    session_id = start_view(app, client, world, world.layer("raw", "488", "left"))
    assert run(app, launch, session_id) == "ready"
    sign_in(client, admin)
    assert client.get(f"/viewer/session/{session_id}").status_code == 200
    state = client.get(f"/viewer/session/{session_id}/status").get_json()
    assert state["url"] == "" and "belongs to someone else" in state["message"]
    resp = client.get(f"/viewer/session/{session_id}/enter")
    assert resp.status_code == 403 and not resp.headers.getlist("Set-Cookie")


def test_a_removed_auditor_loses_their_live_view_at_the_next_clean_up(app, client, world, viewer_settings, chp,
                                                                     make_user):  # fmt: skip
    from lightserv.models import ViewerLink
    from lightserv.viewer.cleanup import cleanup
    from lightserv.viewer.launch import launch

    auditor = make_user("audrey")
    left = world.layer("raw", "488", "left")
    sign_in(client, OWNER)
    share = {"action": "add", "grantee": auditor, "access_level": "auditor"}
    assert post(client, f"/requests/{OWNER}/{REQUEST}/access", share).status_code == 303
    owners = start_view(app, client, world, left)
    (link,) = rows(app, ViewerLink)

    # the auditor opens the owner's saved view: a session of their own, never the owner's
    sign_in(client, auditor)
    theirs = open_link(client, link.id)
    assert theirs != owners and session_row(app, theirs).owner == auditor
    assert run(app, launch, theirs) == "ready"
    _, cookie = enter(client, theirs)
    targets = urls(chp.public_url, theirs, session_row(app, theirs).ng_token)
    assert [fetch(u, cookie) for u in targets] == [200, 200, 200]
    assert run(app, cleanup).problems == []
    assert session_row(app, theirs).status == "ready"  # still allowed: nothing happens

    sign_in(client, OWNER)
    share = {"action": "remove", "grantee": auditor, "access_level": "auditor"}
    assert post(client, f"/requests/{OWNER}/{REQUEST}/access", share).status_code == 303
    report = run(app, cleanup)  # the beat task, once per VIEWER_CLEANUP_SECONDS
    assert theirs in report.restopped and report.problems == []
    row = session_row(app, theirs)
    assert (row.status, row.end_reason) == ("stopped", "access_removed")
    assert [fetch(u, cookie) for u in targets] == [404, 404, 404]  # no route, no server
