"""A clearing batch keeps a faithful record: completing needs every step's time or an explicit "skipped"
with its reason (checked by the server, the error next to each step), steps out of time order warn by
name without refusing, and a completed batch reads as a compact record that admins can reopen."""

from __future__ import annotations

import html as htmlmod
import re

import pymysql

from lightserv.clearing import entry
from tests.clearing.conftest import batch_row, batch_url, every_step_timed, login, read_form
from tests.clearing.test_entry_form import step_entry

UDISCO_STEPS = ("pbs_wash", "butanol_30", "butanol_50", "butanol_70", "butanol_80", "butanol_90", "butanol_96",
                "butanol_100", "clear_dcm", "clear_babb")  # fmt: skip


def errors_by_step(html: str) -> dict[str, list[str]]:
    """Step key -> the error messages shown in that step's row."""
    found: dict[str, list[str]] = {}
    for key in UDISCO_STEPS:
        row = html.split(f'data-testid="step-{key}"', 1)[1].split("</tr>", 1)[0]
        messages = re.findall(r'data-testid="error-step:[^"]+">([^<]+)<', row)
        if messages:
            found[key] = [htmlmod.unescape(m) for m in messages]
    return found


def test_completing_with_blank_steps_is_refused_with_the_error_next_to_each_blank_step(
    app, client, started, act, entry_form
):
    owner, _ = started("udisco")
    fields, _, _ = entry_form(owner, "brains")
    fields.update({"step-pbs_wash-time": "2026-03-02T09:00", "step-butanol_30-time": "2026-03-02T09:30"})
    resp = act(batch_url(owner, "brains", 1, "/complete"), fields)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    blank = UDISCO_STEPS[2:]
    assert errors_by_step(html) == {key: [entry.UNRECORDED_MESSAGE] for key in blank}
    assert "Nothing was saved." in html
    assert batch_row(app)["clearing_progress"] == "in_progress"
    assert step_entry(app, "pbs_wash") is None  # the refusal saved nothing ...
    shown, _ = read_form(html)
    assert shown["step-pbs_wash-time"] == "2026-03-02T09:00"  # ... and kept what was typed on the page
    assert "data-unsaved" in html  # so leaving the page still asks first


def test_a_skipped_step_needs_a_reason_and_no_time(app, client, started, act, entry_form):
    owner, _ = started("udisco")
    fields, _, _ = entry_form(owner, "brains")
    url = batch_url(owner, "brains", 1, "/save")
    resp = act(url, {**fields, "step-butanol_30-skipped": "1", "group": "step:butanol_30"})
    assert resp.status_code == 400
    assert errors_by_step(resp.get_data(as_text=True)) == {"butanol_30": [entry.SKIP_REASON_MESSAGE]}
    timed = {
        "step-butanol_30-skipped": "1",
        "step-butanol_30-skip-reason": "no",
        "step-butanol_30-time": "2026-03-02T09:00",
    }
    resp = act(url, {**fields, **timed, "group": "step:butanol_30"})
    assert resp.status_code == 400
    assert errors_by_step(resp.get_data(as_text=True)) == {"butanol_30": [entry.SKIPPED_WITH_TIME_MESSAGE]}
    assert step_entry(app, "butanol_30") is None
    reason = {"step-butanol_30-skipped": "1", "step-butanol_30-skip-reason": "  went straight to 50%  "}
    assert act(url, {**fields, **reason, "group": "step:butanol_30"}).status_code == 303
    stored = step_entry(app, "butanol_30")
    assert stored["skip_reason"] == "went straight to 50%" and stored["step_time"] is None
    fields, _, html = entry_form(owner, "brains")
    assert fields["step-butanol_30-skipped"] == "1"  # the box is ticked again on the next visit
    assert fields["step-butanol_30-skip-reason"] == "went straight to 50%"
    untick = {k: v for k, v in fields.items() if k != "step-butanol_30-skipped"}
    assert act(url, {**untick, "group": "step:butanol_30"}).status_code == 303
    assert step_entry(app, "butanol_30")["skip_reason"] == ""  # unticking takes the skip back


def test_every_step_timed_or_skipped_with_a_reason_completes(app, client, started, act, entry_form):
    owner, _ = started("udisco")
    fields, _, _ = entry_form(owner, "brains")
    fields.update({"step-clear_babb-skipped": "1", "step-clear_babb-skip-reason": "imaged in DCM"})
    form = every_step_timed(fields)
    form["step-clear_babb-time"] = ""
    assert act(batch_url(owner, "brains", 1, "/complete"), form).status_code == 303
    assert batch_row(app)["clearing_progress"] == "complete"
    assert step_entry(app, "clear_babb")["skip_reason"] == "imaged in DCM"


def test_steps_out_of_time_order_warn_by_name_but_do_not_stop_completion(app, client, started, act, entry_form):
    owner, _ = started("udisco")
    fields, _, _ = entry_form(owner, "brains")
    form = every_step_timed(fields)
    form["step-butanol_50-time"] = "2026-03-01T08:00"  # before steps 1 and 2
    assert act(batch_url(owner, "brains", 1, "/save"), {**form, "group": "all"}).status_code == 303
    html = htmlmod.unescape(client.get(batch_url(owner, "brains")).get_data(as_text=True))
    sentence = "Step 3 (50% t-butanol (10 h)) is earlier than step 2 (30% t-butanol (O/N))."
    assert 'data-testid="order-warnings"' in html and sentence in html
    assert 'data-testid="warning-butanol_50">Earlier than the previous step.' in html
    assert 'data-testid="warning-butanol_70"' not in html  # step 4 is later than step 3's predecessor
    fields, _, _ = entry_form(owner, "brains")
    resp = act(batch_url(owner, "brains", 1, "/complete"), fields, follow_redirects=True)
    assert resp.status_code == 200 and batch_row(app)["clearing_progress"] == "complete"
    assert f"Recorded out of time order: {sentence}" in htmlmod.unescape(resp.get_data(as_text=True))
    record = htmlmod.unescape(client.get(batch_url(owner, "brains")).get_data(as_text=True))
    assert sentence in record  # the completed record keeps the warning


def test_a_completed_batch_is_a_compact_record_that_admins_can_reopen(app, client, started, act, entry_form, make_user):
    owner, clearer = started("udisco")
    fields, _, _ = entry_form(owner, "brains")
    fields.update({"step-pbs_wash-notes": "two changes of PBS", "exp_notes": "fresh brains",
                   "step-butanol_30-skipped": "1", "step-butanol_30-skip-reason": "went straight to 50%"})  # fmt: skip
    form = every_step_timed(fields)
    form["step-butanol_30-time"] = ""
    assert act(batch_url(owner, "brains", 1, "/complete"), form).status_code == 303
    html = client.get(batch_url(owner, "brains")).get_data(as_text=True)
    assert 'id="entry-form"' not in html and "<input" not in html.split('data-testid="clearing-record"', 1)[1]
    assert html.count("<button") <= 3  # navigation and log-out, not thirty disabled buttons
    assert "Reopen" not in html  # the clearer cannot reopen
    record = html.split('data-testid="clearing-record"', 1)[1]
    rows = re.findall(r'<tr data-step="([^"]+)"><td>(\d+)</td><td>([^<]*)</td><td>(.*?)</td>', record, re.S)
    assert [r[0] for r in rows] == list(UDISCO_STEPS)
    times = {key: re.sub(r"<[^>]+>", "", cell).strip() for key, _n, _l, cell in rows}
    assert times["pbs_wash"] == "03/02/2026 9:00 AM EST"  # facility time, with its zone
    assert times["butanol_30"] == "Skipped went straight to 50%"
    assert "two changes of PBS" in record and "fresh brains" in record
    login(client, make_user("boss", roles=["facility_admin"]))
    html = client.get(batch_url(owner, "brains")).get_data(as_text=True)
    assert 'action="/clearing/batch/ana/brains/1/reopen"' in html and "Reason for reopening" in html
    assert act(batch_url(owner, "brains", 1, "/reopen"), {"reason": "step 3 time was wrong"}).status_code == 303
    fields, read_only, _ = entry_form(owner, "brains")
    assert not read_only and fields["step-butanol_30-skip-reason"] == "went straight to 50%"


def test_only_an_editable_form_guards_against_leaving_with_unsaved_changes(
    app, client, started, act, entry_form, make_user
):
    owner, _ = started("udisco")
    _, _, html = entry_form(owner, "brains")
    assert "data-guard-unsaved" in html and "data-unsaved" not in html
    login(client, make_user("colleague", roles=["clearing_staff"]))
    _, read_only, html = entry_form(owner, "brains")
    assert read_only and "data-guard-unsaved" not in html


def test_the_migration_adds_the_skip_reason_column_to_an_older_database(app, settings):
    from lightserv.dbinit import MIGRATIONS

    step = dict(MIGRATIONS)["0006_clearing_step_skipped"]
    table = f"`{settings.dj_schema_prefix}lightsheet`.`request__clearing_step_entry`"

    def columns() -> dict[str, tuple]:
        conn = pymysql.connect(host=settings.db_host, port=settings.db_port, user=settings.db_user,
                               password=settings.db_password)  # fmt: skip
        with conn, conn.cursor() as cur:
            cur.execute(f"SHOW FULL COLUMNS FROM {table}")
            return {r[0]: (r[1], r[3], r[5], r[8]) for r in cur.fetchall()}  # type, null, default, comment

    created = columns()["skip_reason"]  # as DataJoint made it from the table definition
    conn = pymysql.connect(host=settings.db_host, port=settings.db_port, user=settings.db_user,
                           password=settings.db_password, autocommit=True)  # fmt: skip
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"ALTER TABLE {table} DROP COLUMN skip_reason")
        assert "skip_reason" not in columns()
    finally:
        step(app)
        step(app)  # running it again is harmless
    assert columns()["skip_reason"] == created
