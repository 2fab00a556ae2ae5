"""Antibody history and overview."""

from __future__ import annotations

import csv
import io

import pytest

from tests.clearing.conftest import events, login


def history_rows(app, **restriction) -> list[dict]:
    from lightserv.db import get_schemas

    with app.app_context():
        return (get_schemas().lightsheet.AntibodyHistory & restriction).to_dicts(order_by=["antibody_history_id"])


@pytest.fixture
def antibody_world(app, make_user, make_request):
    ana = make_user("ana")
    make_request(ana, "stains", "idisco_plus_immuno", antibody1="rabbit anti-Fos", antibody2="donkey anti-rabbit 647")
    make_request(
        make_user("bob"), "bobs", "idisco_plus_immuno", antibody1="goat anti-GFP", antibody2="donkey anti-goat"
    )
    return {r["username"]: r["antibody_history_id"] for r in history_rows(app)}


def test_everyone_logged_in_sees_and_searches_the_history_and_downloads_it(app, client, antibody_world, login_as):
    login_as("researcher", "rita")
    html = client.get("/clearing/antibodies/history").get_data(as_text=True)
    assert "rabbit anti-Fos" in html and "goat anti-GFP" in html
    assert "/edit" not in html  # rita may edit no row
    assert 'href="/requests/ana/stains"' not in html  # a plain name, not a link, for someone who may not view it
    found = client.get("/clearing/antibodies/history?q=GFP").get_data(as_text=True)
    assert "goat anti-GFP" in found and "rabbit anti-Fos" not in found
    assert "goat anti-GFP" not in client.get("/clearing/antibodies/history?q=%25'%20OR%201=1").get_data(as_text=True)
    resp = client.get("/clearing/antibodies/history.csv?q=Fos")
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert rows[0][:4] == ["Date", "Brief description", "Notes", "Primary antibody"]
    assert len(rows) == 2 and rows[1][3] == "rabbit anti-Fos"


def test_the_owner_edits_their_rows_but_not_the_lots_and_nobody_else_can(app, client, antibody_world, act):
    ana_row, bob_row = antibody_world["ana"], antibody_world["bob"]
    login(client, "ana")
    html = client.get("/clearing/antibodies/history").get_data(as_text=True)
    assert f"/clearing/antibodies/history/{ana_row}/edit" in html and f"/history/{bob_row}/edit" not in html
    resp = client.get(f"/clearing/antibodies/history/{bob_row}/edit")
    assert resp.status_code == 403 and "You do not have permission to update this entry." in resp.get_data(as_text=True)
    assert act(f"/clearing/antibodies/history/{bob_row}/edit", {"notes": "mine now"}).status_code == 403
    page = client.get(f"/clearing/antibodies/history/{ana_row}/edit").get_data(as_text=True)
    assert 'name="primary_lot"' not in page and 'name="notes"' in page
    # a GET with values in the query string changes nothing
    client.get(f"/clearing/antibodies/history/{ana_row}/edit?notes=sneaky&primary_lot=X")
    assert history_rows(app, antibody_history_id=ana_row)[0]["notes"] == ""
    resp = act(
        f"/clearing/antibodies/history/{ana_row}/edit",
        {"primary_antibody": "rabbit anti-Fos", "primary_concentration": "1:2000", "notes": "worked well",
         "primary_lot": "FORGED"},
    )  # fmt: skip
    assert resp.status_code == 303
    assert "Antibody entry updated." in client.get(resp.headers["Location"]).get_data(as_text=True)
    row = history_rows(app, antibody_history_id=ana_row)[0]
    assert (row["primary_concentration"], row["notes"], row["primary_lot"]) == ("1:2000", "worked well", "")
    assert row["updated_by"] == "ana"
    action, actor, key, before, after, _ = events(app, "antibody.")[-1]
    assert (action, actor, key) == ("antibody.changed", "ana", {"antibody_history_id": ana_row})
    assert before["notes"] == "" and after["notes"] == "worked well"


def test_clearing_staff_edit_any_row_including_lots(app, client, antibody_world, act, login_as):
    bob_row = antibody_world["bob"]
    login_as("clearing", "cleo")
    page = client.get(f"/clearing/antibodies/history/{bob_row}/edit").get_data(as_text=True)
    assert 'name="primary_lot"' in page and 'name="entry_date"' in page
    resp = act(
        f"/clearing/antibodies/history/{bob_row}/edit",
        {"entry_date": "2026-02-01", "brief_descriptor": "GFP test", "animal_model": "mouse",
         "primary_antibody": "goat anti-GFP", "secondary_antibody": "donkey anti-goat", "primary_lot": " L1 "},
    )  # fmt: skip
    assert resp.status_code == 303
    row = history_rows(app, antibody_history_id=bob_row)[0]
    assert (row["primary_lot"], row["brief_descriptor"], str(row["entry_date"])) == ("L1", "GFP test", "2026-02-01")
    too_long = act(f"/clearing/antibodies/history/{bob_row}/edit", {"entry_date": "2026-02-01", "notes": "x" * 513})
    assert too_long.status_code == 400


def test_clearing_staff_add_a_trial_without_owner_or_request(app, client, act, login_as):
    login_as("researcher", "rita")
    assert client.get("/clearing/antibodies/history/new").status_code == 403
    login_as("clearing", "cleo")
    page = client.get("/clearing/antibodies/history/new").get_data(as_text=True)
    assert "Today" in page
    missing = act("/clearing/antibodies/history/new", {"entry_date": "2026-02-01", "brief_descriptor": "x"})
    assert missing.status_code == 400 and "This field is required." in missing.get_data(as_text=True)
    resp = act(
        "/clearing/antibodies/history/new",
        {"entry_date": "2026-02-01", "brief_descriptor": "Trial A", "animal_model": "C57BL/6",
         "primary_antibody": "anti-NeuN", "primary_concentration": "1:500",
         "secondary_antibody": "anti-mouse 555", "secondary_concentration": "1:200"},
    )  # fmt: skip
    assert resp.status_code == 303
    (row,) = history_rows(app, brief_descriptor="Trial A")
    assert row["username"] is None and row["request_name"] is None and row["created_by"] == "cleo"
    assert events(app, "antibody.")[-1][0] == "antibody.changed"


def test_clearing_staff_maintain_the_overview_and_everyone_reads_it(app, client, act, login_as):
    login_as("clearing", "cleo")
    values = {"brief_descriptor": "c-Fos", "animal_model": "mouse", "primary_antibody": "anti-Fos",
              "primary_concentration": "1:1000", "secondary_antibody": "anti-rabbit 647",
              "secondary_concentration": "1:500", "primary_order_info": "Synaptic Systems 226 003"}  # fmt: skip
    assert act("/clearing/antibodies/overview/new", values).status_code == 303
    html = client.get("/clearing/antibodies/overview").get_data(as_text=True)
    overview_id = int(html.split('<tr data-id="', 1)[1].split('"', 1)[0])
    assert "Synaptic Systems 226 003" in html
    assert (
        act(f"/clearing/antibodies/overview/{overview_id}/edit", {**values, "notes": "best in cortex"}).status_code
        == 303
    )
    login_as("researcher", "rita")
    html = client.get("/clearing/antibodies/overview").get_data(as_text=True)
    assert "best in cortex" in html and "/edit" not in html
    assert act(f"/clearing/antibodies/overview/{overview_id}/delete").status_code == 403
    login_as("clearing", "cleo2")
    assert act(f"/clearing/antibodies/overview/{overview_id}/delete").status_code == 303
    assert "best in cortex" not in client.get("/clearing/antibodies/overview").get_data(as_text=True)
    assert [e[0] for e in events(app, "antibody.")] == ["antibody.changed"] * 3


def test_the_overview_form_shows_the_entry_and_keeps_an_incomplete_edit_out(app, client, act, login_as):
    login_as("clearing", "cleo")
    values = {"brief_descriptor": "c-Fos", "animal_model": "mouse", "primary_antibody": "anti-Fos",
              "primary_concentration": "1:1000", "secondary_antibody": "anti-rabbit 647",
              "secondary_concentration": "1:500"}  # fmt: skip
    assert act("/clearing/antibodies/overview/new", {**values, "animal_model": ""}).status_code == 400
    assert "c-Fos" not in client.get("/clearing/antibodies/overview").get_data(as_text=True)
    assert act("/clearing/antibodies/overview/new", values).status_code == 303
    html = client.get("/clearing/antibodies/overview").get_data(as_text=True)
    overview_id = int(html.split('<tr data-id="', 1)[1].split('"', 1)[0])
    form = client.get(f"/clearing/antibodies/overview/{overview_id}/edit").get_data(as_text=True)
    assert 'value="anti-rabbit 647"' in form
    refused = act(f"/clearing/antibodies/overview/{overview_id}/edit", {**values, "primary_antibody": ""})
    assert refused.status_code == 400 and 'value="anti-rabbit 647"' in refused.get_data(as_text=True)
    assert "anti-Fos" in client.get("/clearing/antibodies/overview").get_data(as_text=True)
    assert [e[0] for e in events(app, "antibody.")] == ["antibody.changed"]
