"""Claim, start, release, assign, reopen: explicit POSTs with guards and events."""

from __future__ import annotations

from tests.clearing.conftest import batch_row, batch_url, events, every_step_timed, login


def test_clearing_staff_claim_an_unassigned_batch_and_a_second_claim_by_someone_else_is_refused(
    app, client, make_user, make_request, act
):
    owner = make_user("ana")
    make_request(owner, "brains")
    login(client, make_user("cleo", roles=["clearing_staff"]))
    assert act(batch_url(owner, "brains", 1, "/claim")).status_code == 303
    batch = batch_row(app)
    assert batch["clearer"] == "cleo" and batch["claimed_at"] is not None
    assert batch["clearing_progress"] == "pending"
    login(client, make_user("carl", roles=["clearing_staff"]))
    assert act(batch_url(owner, "brains", 1, "/claim")).status_code == 403
    login(client, make_user("boss", roles=["facility_admin"]))
    assert act(batch_url(owner, "brains", 1, "/claim")).status_code == 403
    assert batch_row(app)["clearer"] == "cleo"
    assert [(e[0], e[1]) for e in events(app)] == [("clearing.claimed", "cleo")]


def test_the_form_shows_who_holds_the_batch_and_since_when(app, client, make_user, make_request, act):
    owner = make_user("ana")
    make_request(owner, "brains")
    login(client, make_user("cleo", roles=["clearing_staff"]))
    act(batch_url(owner, "brains", 1, "/claim"))
    html = client.get(batch_url(owner, "brains")).get_data(as_text=True)
    assert "Held by <strong>cleo</strong> since " in html


def test_starting_an_unassigned_batch_claims_it_and_others_cannot_start_a_held_one(
    app, client, make_user, make_request, act
):
    owner = make_user("ana")
    make_request(owner, "brains")
    make_request(owner, "more")
    login(client, make_user("cleo", roles=["clearing_staff"]))
    assert act(batch_url(owner, "brains", 1, "/start")).status_code == 303
    batch = batch_row(app)
    assert (batch["clearer"], batch["clearing_progress"]) == ("cleo", "in_progress")
    assert batch["started_at"] is not None
    act(batch_url(owner, "more", 1, "/claim"))
    login(client, make_user("carl", roles=["clearing_staff"]))
    assert act(batch_url(owner, "more", 1, "/start")).status_code == 403
    assert act(batch_url(owner, "brains", 1, "/start")).status_code in (403, 409)
    login(client, owner)  # the owner of a request they do not clear themselves
    assert act(batch_url(owner, "more", 1, "/start")).status_code == 403
    # admins start any batch and keep its clearer
    login(client, make_user("boss", roles=["facility_admin"]))
    assert act(batch_url(owner, "more", 1, "/start")).status_code == 303
    more = batch_row(app, name="more")
    assert (more["clearer"], more["clearing_progress"]) == ("cleo", "in_progress")
    assert [e[0] for e in events(app)] == ["clearing.started", "clearing.claimed", "clearing.started"]


def test_the_clearer_releases_a_batch_and_others_cannot(app, client, make_user, make_request, act):
    owner = make_user("ana")
    make_request(owner, "brains")
    login(client, make_user("cleo", roles=["clearing_staff"]))
    act(batch_url(owner, "brains", 1, "/start"))
    login(client, make_user("carl", roles=["clearing_staff"]))
    assert act(batch_url(owner, "brains", 1, "/release")).status_code == 403
    login(client, "cleo")
    assert act(batch_url(owner, "brains", 1, "/release")).status_code == 303
    batch = batch_row(app)
    assert batch["clearer"] is None and batch["clearing_progress"] == "in_progress"
    assert events(app)[-1][:2] == ("clearing.assigned", "cleo")
    assert events(app)[-1][3] == {"clearer": "cleo"} and events(app)[-1][4] == {"clearer": None}


def test_admins_assign_a_batch_and_the_new_clearer_is_emailed(app, client, make_user, make_request, act, smtp, worker):
    owner = make_user("ana")
    make_request(owner, "brains", n=2)
    make_user("cleo", roles=["clearing_staff"], email="cleo@core.example")
    make_user("ivan", roles=["imaging_staff"])
    login(client, make_user("carl", roles=["clearing_staff"]))
    assert act(batch_url(owner, "brains", 1, "/assign"), {"assignee": "cleo"}).status_code == 403
    login(client, make_user("boss", roles=["facility_admin"]))
    html = client.get(batch_url(owner, "brains")).get_data(as_text=True)
    assert '<option value="cleo"' in html and '<option value="ivan"' not in html
    assert act(batch_url(owner, "brains", 1, "/assign"), {"assignee": "ivan"}).status_code == 400
    with worker():
        assert act(batch_url(owner, "brains", 1, "/assign"), {"assignee": "cleo"}).status_code == 303
        (to, msg), *others = smtp.wait_for(1, app=app)
    assert not others
    assert to == ["cleo@core.example"]
    assert msg["Subject"] == f"lightserv: Clearing batch assigned to you: {owner}/brains batch 1"
    body = msg.get_content()
    assert "iDISCO for non-oxidizable fluorophores (abbreviated clearing)" in body
    assert "s1, s2" in body and f"/clearing/batch/{owner}/brains/1" in body
    assert batch_row(app)["clearer"] == "cleo"


def test_admins_reopen_a_completed_batch_with_a_reason(app, client, started, act, make_user, entry_form):
    owner, clearer = started("udisco")
    fields, _, _ = entry_form(owner, "brains")
    assert act(batch_url(owner, "brains", 1, "/complete"), every_step_timed(fields)).status_code == 303
    assert act(batch_url(owner, "brains", 1, "/reopen"), {"reason": "typo"}).status_code == 403
    login(client, make_user("boss", roles=["facility_admin"]))
    resp = act(batch_url(owner, "brains", 1, "/reopen"), {"reason": "   "})
    assert resp.status_code == 400 and "Give a reason for reopening." in resp.get_data(as_text=True)
    assert act(batch_url(owner, "brains", 1, "/reopen"), {"reason": "Step 3 time was wrong"}).status_code == 303
    batch = batch_row(app)
    assert batch["clearing_progress"] == "in_progress" and batch["completed_at"] is None
    action, actor, _key, _before, after, _summary = events(app)[-1]
    assert (action, actor, after["reason"]) == ("clearing.reopened", "boss", "Step 3 time was wrong")


def test_strangers_get_404_for_every_batch_page_and_action(app, client, make_user, make_request, act):
    owner = make_user("ana")
    make_request(owner, "brains")
    login(client, make_user("stranger"))
    for suffix in ("", "/log", "/calendar.ics"):
        assert client.get(batch_url(owner, "brains", 1, suffix)).status_code == 404
    for suffix in ("/claim", "/start", "/release", "/assign", "/save", "/complete", "/reopen"):
        assert act(batch_url(owner, "brains", 1, suffix)).status_code == 404
    login(client, make_user("cleo", roles=["clearing_staff"]))
    assert client.get(batch_url(owner, "brains", 9)).status_code == 404
    assert client.get(batch_url(owner, "nothing", 1)).status_code == 404


def test_a_self_clearing_owner_clears_their_own_batch_and_sees_only_their_batches(
    app, client, make_user, make_request, act, entry_form
):
    owner = make_user("ana")
    make_request(owner, "mine", "udisco", self_clearing=True)
    make_request(make_user("bob"), "theirs", "udisco")
    login(client, owner)
    nav = client.get("/requests/").get_data(as_text=True).split('data-testid="nav"', 1)[1].split("</ul>", 1)[0]
    assert ">Clearing</a>" in nav
    queue = client.get("/clearing/queue").get_data(as_text=True)
    assert 'data-batch="ana/mine/1"' in queue and "bob/theirs" not in queue
    assert client.get(batch_url("bob", "theirs")).status_code == 404
    assert act(batch_url(owner, "mine", 1, "/start")).status_code == 303
    fields, read_only, _ = entry_form(owner, "mine")
    assert not read_only
    fields["step-pbs_wash-time"] = "2026-03-02T09:00"
    assert act(batch_url(owner, "mine", 1, "/save"), {**fields, "group": "step:pbs_wash"}).status_code == 303
    assert act(batch_url(owner, "mine", 1, "/complete"), every_step_timed(fields)).status_code == 303
    assert batch_row(app, name="mine")["clearing_progress"] == "complete"
    # other clearing staff see the self-cleared batch read-only; admins can open it
    login(client, make_user("cleo", roles=["clearing_staff"]))
    assert client.get(batch_url(owner, "mine")).status_code == 200
    assert act(batch_url(owner, "mine", 1, "/claim")).status_code == 409
    login(client, make_user("boss", roles=["facility_admin"]))
    assert client.get(batch_url(owner, "mine")).status_code == 200


def test_a_researcher_without_batches_has_no_clearing_queue(app, client, login_as):
    login_as("researcher", "rita")
    assert client.get("/clearing/queue").status_code == 403
    nav = client.get("/requests/").get_data(as_text=True).split('data-testid="nav"', 1)[1].split("</ul>", 1)[0]
    assert ">Clearing</a>" not in nav
