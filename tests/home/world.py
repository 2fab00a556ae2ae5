"""A facility seen from every role's home page, built through the real services plus the row changes the
clearing, imaging and processing services would make.

People: ana (researcher), col (collaborator on ana/done), aud (auditor only: named on ana/waiting and ana/done),
cleo (clearing), ian (imaging), pat (processing), boss (admin), bob (another researcher).

ana/waiting   pending, 2 samples to hand off on 2030-01-15
ana/done      complete; the registered 488 nm image of s1 is ready (and logged), no feedback yet
ana/broken    processing failed (started by pat)
bob/late      clearing not claimed, hand-off expected 2020-01-02: overdue
bob/held      clearing batch claimed by cleo and being cleared; boss assigned it to her
bob/cleared   cleared 10 days ago, imaging not claimed: overdue
bob/imaging   being imaged by ian
bob/imaged    imaged 10 days ago, processing not started: overdue
bob/running   processing started by pat an hour ago
Plus, for the admin: one email given up on, one failed layer, one live viewer session, a storage check.
"""

from __future__ import annotations

import datetime as dt

from tests.factories import channel, layer_row, new_request, resolution, sample, submit

PASSWORD = "home page test password"
PEOPLE = {
    "ana": (),
    "col": (),
    "aud": (),
    "bob": (),
    "cleo": ("clearing_staff",),
    "ian": ("imaging_staff",),
    "pat": ("processing_staff",),
    "boss": ("facility_admin",),
}
READY_SENTENCE = "The atlas-registered image of 488 nm (sample s1, 1.3x) is ready to view."
ASSIGNED_SENTENCE = "boss assigned clearing batch 1 to cleo."


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _update(table, key: dict, **values) -> None:
    for row in (table & key).proj().to_dicts():
        table.update1({**row, **values})


def build(app, make_user) -> dict:
    from lightserv.common.audit import record_event
    from lightserv.db import get_schemas
    from lightserv.extensions import db
    from lightserv.layers.services import LayerTarget
    from lightserv.models import EmailOutbox, ViewerLink, ViewerSession

    for name, roles in PEOPLE.items():
        make_user(name, roles=roles, password=PASSWORD)
    registration = resolution("1.3x", channel("488", "registration"))
    two = [sample("s1", registration), sample("s2", registration)]
    submit(app, new_request("ana", "waiting", two, auditors=["aud"]))
    submit(app, new_request("ana", "done", [sample("s1", registration)], auditors=["aud", "col"]))
    submit(app, new_request("ana", "broken", [sample("s1", registration)]))
    submit(app, new_request("bob", "late", [sample("s1", expected_handoff_date=dt.date(2020, 1, 2))]))
    for name in ("held", "cleared", "imaging", "imaged", "running"):
        submit(app, new_request("bob", name))

    now = _now()
    with app.test_request_context():
        part = get_schemas().lightsheet.Request
        part.Access.update1(dict(username="ana", request_name="done", grantee="col", access_level="collaborator"))

        def key(owner: str, name: str) -> dict:
            return {"username": owner, "request_name": name}

        for owner, name in (("ana", "done"), ("ana", "broken"), ("bob", "imaged"), ("bob", "running")):
            _update(part.ClearingBatch, key(owner, name), clearing_progress="complete", completed_at=now)
            _update(part.ImagingBatch, key(owner, name), imaging_progress="complete", completed_at=now)
            _update(
                part.ImagingRequest,
                key(owner, name),
                imaging_progress="complete",
                imaging_performed_date=(now - dt.timedelta(days=10)).date(),
            )
        _update(part.ProcessingRequest, key("ana", "done"), processing_progress="complete", completed_at=now)
        failure = "The registration did not converge."
        _update(
            part.ProcessingRequest,
            key("ana", "broken"),
            processing_progress="failed",
            processor="pat",
            started_at=now - dt.timedelta(hours=5),
            failure_summary=failure,
        )
        _update(
            part.ProcessingRequest,
            key("bob", "running"),
            processing_progress="running",
            processor="pat",
            started_at=now - dt.timedelta(hours=1),
        )
        _update(
            part.ClearingBatch,
            key("bob", "held"),
            clearing_progress="in_progress",
            clearer="cleo",
            claimed_at=now,
            started_at=now,
        )
        _update(
            part.ClearingBatch,
            key("bob", "cleared"),
            clearing_progress="complete",
            completed_at=now - dt.timedelta(days=10),
        )
        _update(part.ClearingBatch, key("bob", "imaging"), clearing_progress="complete", completed_at=now)
        _update(part.ImagingBatch, key("bob", "imaging"), imaging_progress="in_progress", imager="ian", started_at=now)

        target = LayerTarget("ana", "done", "s1", 1, "1.3x", "488", "registered", processing_request_number=1)
        part.DataLayer.insert1(layer_row(target, now))
        raw = LayerTarget("bob", "imaging", "s1", 1, "1.3x", "488", "raw", lightsheet="left")
        part.DataLayer.insert1(layer_row(raw, now, "failed", failure_reason="no planes"))
        record_event(
            "layer.ready",
            "layer",
            target.key(),
            f"Layer {target.name()} is ready",
            actor=None,
            request_key=("ana", "done"),
        )
        record_event(
            "job.state_changed", "job", {"job_id": "42"}, "job 42 RUNNING", actor=None, request_key=("ana", "done")
        )
        pkey = dict(key("ana", "broken"), sample_name="s1", imaging_request_number=1, processing_request_number=1)
        record_event(
            "processing.failed", "processing_request", pkey, "failed", actor=None, request_key=("ana", "broken")
        )
        record_event(
            "clearing.assigned",
            "clearing_batch",
            dict(key("bob", "held"), clearing_batch_number=1),
            "assigned",
            after={"clearer": "cleo"},
            actor="boss",
            request_key=("bob", "held"),
        )
        record_event("email.failed", "email", {"id": 1}, "Email 'x' failed 3 times", actor=None)

        get_schemas().facility.StorageSnapshot.insert1(
            dict(taken_at=now, filesystem="data", size_tb=100.0, used_tb=60.0, avail_tb=40.0, status="ok", message="")
        )
        db.session.add(
            EmailOutbox(
                template="t",
                dedupe_key="home-test",
                to_addrs=["x@test.example"],
                subject="x",
                body_text="x",
                status="failed",
                attempts=3,
                last_error="refused",
            )
        )
        db.session.add(
            ViewerLink(
                id="homelink01", created_by="ana", title="s1", request_username="ana", request_name="done", spec={}
            )
        )
        db.session.flush()
        db.session.add(
            ViewerSession(
                id="0" * 32, link_id="homelink01", owner="ana", variant="general", status="ready", ng_token="t" * 32
            )
        )
        db.session.commit()
    return {"password": PASSWORD}
