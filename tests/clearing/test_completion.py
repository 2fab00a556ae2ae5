"""Completing a batch: state, antibody history lots, emails received by the SMTP
server, and no second round of emails after reopen + complete."""

from __future__ import annotations

import html as htmlmod
import re

from tests.clearing.conftest import batch_row, batch_url, events, every_step_timed, login, mail_by_subject
from tests.factories import resolution


def outbox_subjects(app) -> list[str]:
    from lightserv.extensions import db
    from lightserv.models import EmailOutbox

    with app.app_context():
        return sorted(r.subject for r in db.session.scalars(db.select(EmailOutbox)))


def add_imaging_request(app, owner: str, name: str, samples: list[str], submitter: str) -> int:
    from lightserv.db import get_schemas
    from lightserv.requests.additional_imaging import request_additional_imaging
    from lightserv.requests.submission import SampleWish

    with app.test_request_context():
        req = (get_schemas().lightsheet.Request & {"username": owner, "request_name": name}).to_dicts()[0]
        wishes = [SampleWish(s, "", resolutions=[resolution("4x")]) for s in samples]
        return request_additional_imaging(req, wishes, [True] * len(wishes), self_imaging=False, submitter=submitter)


def test_completing_emails_the_requester_and_imaging_staff_and_redirects_to_the_queue(
    app, client, started, act, entry_form, make_user, smtp, worker
):
    make_user("ivan", roles=["imaging_staff"], email="ivan@core.example")
    owner, clearer = started("idisco_plus_immuno", n=2)
    fields, _, _ = entry_form(owner, "brains")
    fields.update({"lot-antibody1": "P-123", "lot-antibody2": "S-456", "step-pbs_wash_1-time": "2026-03-02T09:00"})
    with worker():
        resp = act(batch_url(owner, "brains", 1, "/complete"), every_step_timed(fields))
        mail = mail_by_subject(smtp, app, 2)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/clearing/queue")
    queue = client.get("/clearing/queue").get_data(as_text=True)
    assert "Clearing for batch 1 of brains is complete." in queue
    batch = batch_row(app)
    assert batch["clearing_progress"] == "complete" and batch["completed_at"] is not None
    assert batch["antibody1_lot"] == "P-123"  # changed fields are saved first
    to, msg = mail["lightserv: Clearing complete: brains batch 1"]
    assert to == ["ana@test.example"]
    body = msg.get_content()
    assert "iDISCO+ (immunostaining)" in body and "(lot P-123)" in body and "(lot S-456)" in body
    assert "s1, s2" in body and "The facility will now image your samples." in body
    to, msg = mail["lightserv: Samples ready for imaging: ana/brains"]
    assert to == ["ivan@core.example"]
    assert "Imaging request 1, imaging batch 1: samples s1, s2; resolutions 1.3x (488)" in msg.get_content()
    assert [e[0] for e in events(app)][-1] == "clearing.completed"


def test_completion_copies_lots_into_the_antibody_history(app, client, started, act, entry_form):
    from lightserv.db import get_schemas

    owner, _ = started("idisco_plus_immuno")
    fields, _, _ = entry_form(owner, "brains")
    fields.update({"lot-antibody1": "P-1", "lot-antibody2": "S-2"})
    assert act(batch_url(owner, "brains", 1, "/complete"), every_step_timed(fields)).status_code == 303
    with app.app_context():
        rows = (get_schemas().lightsheet.AntibodyHistory & {"username": owner, "request_name": "brains"}).to_dicts()
    assert [(r["primary_lot"], r["secondary_lot"], r["clearing_batch_number"]) for r in rows] == [("P-1", "S-2", 1)]


def test_completion_creates_a_missing_antibody_history_row(app, client, started, act, entry_form):
    from lightserv.db import get_schemas

    owner, _ = started("idisco_plus_immuno")
    key = {"username": owner, "request_name": "brains"}
    with app.app_context():
        (get_schemas().lightsheet.AntibodyHistory & key).delete(prompt=False)
    fields, _, _ = entry_form(owner, "brains")
    complete = act(batch_url(owner, "brains", 1, "/complete"), {**every_step_timed(fields), "lot-antibody1": "P-9"})
    assert complete.status_code == 303
    with app.app_context():
        rows = (get_schemas().lightsheet.AntibodyHistory & key).to_dicts()
    assert len(rows) == 1 and rows[0]["primary_lot"] == "P-9" and rows[0]["primary_antibody"].startswith("rabbit")


def test_every_imaging_request_of_the_cleared_samples_is_considered_and_the_self_imager_is_told(
    app, client, started, act, entry_form, make_user, smtp, worker
):
    make_user("ivan", roles=["imaging_staff"], email="ivan@core.example")
    owner, clearer = started("udisco", n=2, self_imaging=True)
    add_imaging_request(app, owner, "brains", ["s2"], submitter=owner)  # imaging request 2, no imager
    fields, _, _ = entry_form(owner, "brains")
    with worker():
        assert act(batch_url(owner, "brains", 1, "/complete"), every_step_timed(fields)).status_code == 303
        mail = mail_by_subject(smtp, app, 3)
    to, msg = mail["lightserv: Clearing complete: brains batch 1"]
    assert "You chose to image these samples yourself; they are ready in the imaging queue." in msg.get_content()
    to, msg = mail["lightserv: Your samples are ready for imaging"]
    assert to == ["ana@test.example"]
    assert "Imaging request 1, imaging batch 1: samples s1, s2" in msg.get_content()
    to, msg = mail["lightserv: Samples ready for imaging: ana/brains"]
    assert to == ["ivan@core.example"]
    assert "Imaging request 2, imaging batch 1: sample s2; resolutions 4x (488)" in msg.get_content()
    assert "Imaging request 1" not in msg.get_content()


def test_reopen_and_complete_again_sends_no_second_round_of_emails(
    app, client, started, act, entry_form, make_user, smtp, worker
):
    owner, clearer = started("udisco")
    fields, _, _ = entry_form(owner, "brains")
    with worker():
        assert act(batch_url(owner, "brains", 1, "/complete"), every_step_timed(fields)).status_code == 303
        smtp.wait_for(1, app=app)
    before = outbox_subjects(app)
    login(client, make_user("boss", roles=["facility_admin"]))
    assert act(batch_url(owner, "brains", 1, "/reopen"), {"reason": "fix a note"}).status_code == 303
    fields, _, _ = entry_form(owner, "brains")
    with worker():
        assert act(batch_url(owner, "brains", 1, "/complete"), every_step_timed(fields)).status_code == 303
    assert outbox_subjects(app) == before
    assert smtp.messages == []
    assert [e[0] for e in events(app)][-3:] == ["clearing.completed", "clearing.reopened", "clearing.completed"]


def test_the_experimental_protocol_needs_its_spreadsheet_link_to_complete(app, client, started, act, entry_form):
    owner, _ = started("experimental")
    fields, _, html = entry_form(owner, "brains")
    assert "data-complete-dialog" not in html  # no blank-entry dialog
    resp = act(batch_url(owner, "brains", 1, "/complete"), fields)
    assert resp.status_code == 400
    assert "Enter the link to the clearing spreadsheet." in resp.get_data(as_text=True)
    assert batch_row(app)["clearing_progress"] == "in_progress"
    resp = act(batch_url(owner, "brains", 1, "/complete"), {**fields, "link": "not a url"})
    assert resp.status_code == 400
    link = "https://sheets.example.org/d/abc"
    assert act(batch_url(owner, "brains", 1, "/complete"), {**fields, "link": link}).status_code == 303
    batch = batch_row(app)
    assert batch["clearing_progress"] == "complete" and batch["link_to_clearing_spreadsheet"] == link


def test_the_completion_dialog_lists_the_steps_without_a_time_or_a_reason(app, client, started, act, entry_form):
    owner, _ = started("udisco")
    fields, _, _ = entry_form(owner, "brains")
    fields.update({"step-pbs_wash-time": "2026-03-02T09:00", "step-butanol_30-skipped": "1"})
    fields["step-butanol_30-skip-reason"] = "the batch went straight to 50%"
    assert act(batch_url(owner, "brains", 1, "/save"), {**fields, "group": "all"}).status_code == 303
    _, _, html = entry_form(owner, "brains")
    dialog = html.split('id="complete-dialog"', 1)[1]
    listed = re.findall(r'<li data-unrecorded="([^"]+)"\s*>', dialog)  # the others are hidden
    assert listed == ["butanol_50", "butanol_70", "butanol_80", "butanol_90", "butanol_96", "butanol_100",
                      "clear_dcm", "clear_babb"]  # fmt: skip
    assert htmlmod.escape("Step 3: 50% t-butanol (10 h)") in dialog
    assert re.search(r'data-testid="confirm-complete"\s+disabled', dialog)  # nothing to confirm yet
