"""Each staff action on a clearing or imaging batch returns to the batch page and says there what it did."""

from __future__ import annotations

from tests.factories import new_request, submit
from tests.imaging.conftest import finish_clearing

CLEARING = "/clearing/batch/ana/brains/1"
IMAGING = "/imaging/batch/ana/brains/1/1/1"


def shown_after(client, act, url: str) -> str:
    resp = act(url)
    assert resp.status_code == 303 and resp.location.endswith(url.rsplit("/", 1)[0])
    return client.get(resp.location).get_data(as_text=True)


def test_claim_start_and_release_say_what_they_did_for_clearing_and_imaging(app, client, make_user, login_as, act):
    make_user("ana")
    submit(app, new_request("ana", "brains"))
    for team, batch, verb, started, holder in (
        ("clearing", CLEARING, "hold", "Clearing started. Record each step as you go.", "clearer"),
        ("imaging", IMAGING, "image", "Imaging started.", "imager"),
    ):
        if team == "imaging":
            finish_clearing(app)
        login_as(team, f"{team}-staff")
        assert f"You now {verb} this batch." in shown_after(client, act, batch + "/claim")
        assert f"You already {verb} this batch." in shown_after(client, act, batch + "/claim")
        assert started in shown_after(client, act, batch + "/start")
        assert f"The batch was released; it has no {holder} now." in shown_after(client, act, batch + "/release")
