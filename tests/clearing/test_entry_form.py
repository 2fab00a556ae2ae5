"""The entry form of every protocol, generated from the catalogue: rendering,
saving one group or all, optimistic concurrency, validation, read-only states."""

from __future__ import annotations

import datetime as dt
import html as htmlmod

import pytest

from schemas.catalogue import PROTOCOL_LABELS, steps_of
from tests.clearing.conftest import ALL_PROTOCOLS, batch_row, batch_url, events, every_step_timed, login, read_form

LOCAL_TIME = "2026-03-02T09:15"  # facility time (America/New_York, EST): 14:15 UTC


def step_entry(app, step_key: str, owner: str = "ana", name: str = "brains") -> dict | None:
    from lightserv.db import get_schemas

    with app.app_context():
        ls = get_schemas().lightsheet
        rows = (
            ls.Request.ClearingStepEntry
            & {"username": owner, "request_name": name, "clearing_batch_number": 1, "step_key": step_key}
        ).to_dicts()
        return rows[0] if rows else None


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_each_protocol_form_shows_all_its_steps_and_saves_and_reloads_a_time_and_a_note(
    app, client, started, act, entry_form, protocol
):
    owner, clearer = started(protocol)
    fields, read_only, html = entry_form(owner, "brains")
    assert not read_only
    assert f"Clearing entry form — {htmlmod.escape(PROTOCOL_LABELS[protocol])}" in html
    steps = steps_of(protocol)
    for step in steps:
        assert f'id="step-{step.step_key}"' in html, step.step_key
        assert htmlmod.escape(step.label) in html, step.label
        assert f"step-{step.step_key}-time" in fields and f"step-{step.step_key}-notes" in fields
    if protocol == "experimental":
        assert not steps and "link" in fields
        link = "https://sheets.example.org/d/clearing-run-7"
        resp = act(batch_url(owner, "brains", 1, "/save"), {**fields, "link": link, "group": "link"})
        assert resp.status_code == 303
        fields, _, html = entry_form(owner, "brains")
        assert fields["link"] == link
        assert batch_row(app)["link_to_clearing_spreadsheet"] == link
        return
    for step in (steps[0], steps[-1]):
        fields[f"step-{step.step_key}-time"] = LOCAL_TIME
        fields[f"step-{step.step_key}-notes"] = f"note for {step.step_key}\nsecond line"
        resp = act(batch_url(owner, "brains", 1, "/save"), {**fields, "group": f"step:{step.step_key}"})
        assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
        fields, _, _ = entry_form(owner, "brains")
        assert fields[f"step-{step.step_key}-time"] == LOCAL_TIME
        assert fields[f"step-{step.step_key}-notes"] == f"note for {step.step_key}\nsecond line"
        stored = step_entry(app, step.step_key)
        assert stored["step_time"] == dt.datetime(2026, 3, 2, 14, 15)  # UTC
        assert stored["updated_by"] == clearer
    assert [e[0] for e in events(app)] == ["clearing.started", "clearing.step_saved", "clearing.step_saved"]


def test_saving_one_step_keeps_other_unsaved_edits_on_the_page(app, client, started, act, entry_form):
    owner, _ = started("udisco")
    fields, _, _ = entry_form(owner, "brains")
    fields["step-pbs_wash-time"] = LOCAL_TIME
    fields["step-butanol_30-notes"] = "typed but not saved"
    resp = act(batch_url(owner, "brains", 1, "/save"), {**fields, "group": "step:pbs_wash"})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    shown, _ = read_form(html)
    assert shown["step-pbs_wash-time"] == LOCAL_TIME
    assert shown["step-butanol_30-notes"] == "typed but not saved"
    assert 'data-focus="step-butanol_30"' in html  # focus moves to the next step
    assert step_entry(app, "pbs_wash")["step_time"] is not None
    assert step_entry(app, "butanol_30") is None


def test_save_all_writes_every_changed_group_and_nothing_else(app, client, started, act, entry_form):
    owner, clearer = started("idisco_plus_immuno")
    fields, _, _ = entry_form(owner, "brains")
    fields.update(
        {
            "section-dehydration-date": "2026-03-02",
            "lot-antibody1": "  LOT-A1  ",
            "step-pbs_wash_1-time": "2026-03-02T09:00",
            "step-pbs_wash_2-time": "2026-03-02T09:30",
            "exp_notes": "fresh brains",
        }
    )
    resp = act(batch_url(owner, "brains", 1, "/save"), {**fields, "group": "all"})
    assert resp.status_code == 303
    batch = batch_row(app)
    assert batch["antibody1_lot"] == "LOT-A1" and batch["exp_notes"] == "fresh brains"
    assert step_entry(app, "pbs_wash_2")["step_time"] == dt.datetime(2026, 3, 2, 14, 30)
    assert step_entry(app, "pbs_wash_3") is None
    saved = sorted(e[0] for e in events(app) if e[0] != "clearing.started")
    assert saved == [
        "clearing.lot_saved",
        "clearing.notes_saved",
        "clearing.section_date_saved",
        "clearing.step_saved",
        "clearing.step_saved",
    ]
    html = client.get(batch_url(owner, "brains")).get_data(as_text=True)
    assert "(lot LOT-A1)" in html  # the summary shows the lot
    assert "Add to calendar" in html


def test_a_stale_save_is_refused_and_the_newer_value_is_kept(app, client, started, act, entry_form, make_user):
    owner, clearer = started("udisco")
    tab1, _, _ = entry_form(owner, "brains")
    tab2 = dict(tab1)
    tab1["step-pbs_wash-notes"] = "first"
    assert act(batch_url(owner, "brains", 1, "/save"), {**tab1, "group": "step:pbs_wash"}).status_code == 303
    admin = make_user("boss", roles=["facility_admin"])
    login(client, admin)
    tab2["step-pbs_wash-notes"] = "second"
    resp = act(batch_url(owner, "brains", 1, "/save"), {**tab2, "group": "step:pbs_wash"})
    assert resp.status_code == 409
    text = htmlmod.unescape(resp.get_data(as_text=True))
    assert f"This entry was changed by {clearer} at " in text
    assert "Reload to see the current value." in text
    assert step_entry(app, "pbs_wash")["step_notes"] == "first"
    # the refused value stays in the form for the user to copy
    assert read_form(resp.get_data(as_text=True))[0]["step-pbs_wash-notes"] == "second"


def test_save_all_from_a_stale_tab_keeps_newer_values_the_user_did_not_touch(app, client, started, act, entry_form):
    owner, _ = started("udisco")
    tab1, _, _ = entry_form(owner, "brains")
    tab2 = dict(tab1)
    tab1["step-pbs_wash-notes"] = "from tab 1"
    assert act(batch_url(owner, "brains", 1, "/save"), {**tab1, "group": "step:pbs_wash"}).status_code == 303
    tab2["step-butanol_30-notes"] = "from tab 2"
    assert act(batch_url(owner, "brains", 1, "/save"), {**tab2, "group": "all"}).status_code == 303
    assert step_entry(app, "pbs_wash")["step_notes"] == "from tab 1"
    assert step_entry(app, "butanol_30")["step_notes"] == "from tab 2"


def test_a_stale_save_of_batch_notes_names_who_changed_them(app, client, started, act, entry_form):
    owner, clearer = started("udisco")
    tab1, _, _ = entry_form(owner, "brains")
    tab2 = dict(tab1)
    assert (
        act(
            batch_url(owner, "brains", 1, "/save"), {**tab1, "clearing_notes": "A", "group": "clearing_notes"}
        ).status_code
        == 303
    )
    resp = act(batch_url(owner, "brains", 1, "/save"), {**tab2, "clearing_notes": "B", "group": "all"})
    assert resp.status_code == 409
    assert f"This entry was changed by {clearer} at" in htmlmod.unescape(resp.get_data(as_text=True))
    assert batch_row(app)["clearing_notes"] == "A"


def test_times_more_than_an_hour_ahead_are_refused_and_earlier_steps_are_flagged(app, client, started, act, entry_form):
    owner, _ = started("udisco")
    fields, _, _ = entry_form(owner, "brains")
    future = (dt.datetime.now() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    resp = act(
        batch_url(owner, "brains", 1, "/save"), {**fields, "step-pbs_wash-time": future, "group": "step:pbs_wash"}
    )
    assert resp.status_code == 400
    assert "The time cannot be in the future." in resp.get_data(as_text=True)
    assert step_entry(app, "pbs_wash") is None
    fields.update({"step-pbs_wash-time": "2026-03-02T10:00", "step-butanol_30-time": "2026-03-02T09:00"})
    assert act(batch_url(owner, "brains", 1, "/save"), {**fields, "group": "all"}).status_code == 303
    html = client.get(batch_url(owner, "brains")).get_data(as_text=True)
    assert 'data-testid="warning-butanol_30">Earlier than the previous step.' in html
    resp = act(
        batch_url(owner, "brains", 1, "/save"),
        {**fields, "step-butanol_50-time": "yesterday", "group": "step:butanol_50"},
    )
    assert resp.status_code == 400 and "Enter a valid date and time." in resp.get_data(as_text=True)


def test_unknown_fields_and_actions_are_a_400(app, client, started, act, entry_form):
    owner, _ = started("udisco")
    fields, _, _ = entry_form(owner, "brains")
    url = batch_url(owner, "brains", 1, "/save")
    assert act(url, {**fields, "group": "explode"}).status_code == 400
    assert act(url, {**fields, "group": "step:primary_added"}).status_code == 400  # a step of another protocol
    assert act(url, {**fields, "step-primary_added-time": "2026-03-02T09:00", "group": "all"}).status_code == 400
    assert act(url, {**fields, "is_admin": "1", "group": "all"}).status_code == 400
    assert act(batch_url(owner, "brains", 1, "/complete"), {**fields, "sneaky": "1"}).status_code == 400
    assert batch_row(app)["clearing_progress"] == "in_progress"


def test_a_pending_batch_shows_disabled_inputs_and_opening_it_changes_nothing(
    app, client, login_as, make_request, make_user
):
    owner = make_user("ana")
    make_request(owner, "brains", "udisco")
    login_as("clearing", "cleo")
    html = client.get(batch_url(owner, "brains")).get_data(as_text=True)
    assert read_form(html)[1]  # the fieldset is disabled
    assert "Start clearing to record steps." in html
    assert "Not assigned" in html
    batch = batch_row(app)
    assert batch["clearer"] is None and batch["clearing_progress"] == "pending"
    assert events(app) == []


def test_a_completed_batch_is_read_only_and_refuses_saves(app, client, started, act, entry_form):
    owner, _ = started("udisco")
    fields, _, _ = entry_form(owner, "brains")
    assert act(batch_url(owner, "brains", 1, "/complete"), every_step_timed(fields)).status_code == 303
    fields2, _, html = entry_form(owner, "brains")
    assert fields2 == {} and 'id="entry-form"' not in html  # a read-only record instead of the form
    assert "This batch is complete. The form is read-only." in html
    resp = act(
        batch_url(owner, "brains", 1, "/save"), {**fields, "step-pbs_wash-notes": "late", "group": "step:pbs_wash"}
    )
    assert resp.status_code == 409
    assert step_entry(app, "pbs_wash")["step_notes"] == ""  # the late note was not written


def test_other_clearing_staff_see_a_held_batch_read_only_and_cannot_save(
    app, client, started, act, entry_form, make_user
):
    owner, _ = started("udisco")
    fields, _, _ = entry_form(owner, "brains")
    login(client, make_user("colleague", roles=["clearing_staff"]))
    _, read_only, html = entry_form(owner, "brains")
    assert read_only and "Only its clearer" in html
    assert act(batch_url(owner, "brains", 1, "/save"), {**fields, "group": "all"}).status_code == 403
    assert act(batch_url(owner, "brains", 1, "/complete"), fields).status_code == 403
