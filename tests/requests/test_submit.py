"""Submitting a request creates exactly the request's part rows, in one transaction."""

from __future__ import annotations

import pytest

from lightserv.db import get_schemas
from tests.factories import channel, new_request, resolution, sample, submit


def worked_example(owner: str):
    """A request of four samples that exercises the batching rules."""
    return new_request(
        owner,
        "worked",
        [
            sample("s1", resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection"))),
            sample("s2", resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection"))),
            sample("s3", resolution("1.3x", channel("488", "registration"))),
            sample(
                "s4",
                resolution("3.6x", channel("642")),
                resolution("2x", channel("488")),
                protocol="idisco_plus_immuno",
                antibody1="anti-cFos 1:1000",
            ),
        ],
    )


def rows(table, **restriction):
    return table.to_dicts() if not restriction else (table & restriction).to_dicts()


def test_the_worked_example_batches_exactly_as_specified(app, make_user):
    owner = make_user("ana")
    result = submit(app, worked_example(owner))
    assert (result.clearing_batches, result.imaging_batches, result.processing_requests) == (2, 3, 4)
    with app.app_context():
        ls = get_schemas().lightsheet
        key = {"username": "ana", "request_name": "worked"}
        cbs = {(r["sample_name"], r["clearing_batch_number"]) for r in rows(ls.Request.ClearingBatchSample, **key)}
        assert cbs == {("s1", 1), ("s2", 1), ("s3", 1), ("s4", 2)}
        batches = {r["clearing_batch_number"]: r for r in rows(ls.Request.ClearingBatch, **key)}
        assert batches[1]["protocol"] == "idisco_abbreviated" and batches[1]["number_in_batch"] == 3
        assert batches[2]["protocol"] == "idisco_plus_immuno" and batches[2]["antibody1"] == "anti-cFos 1:1000"
        ibs = {
            (r["sample_name"], r["clearing_batch_number"], r["imaging_batch_number"])
            for r in rows(ls.Request.ImagingBatchSample, **key)
        }
        assert ibs == {("s1", 1, 1), ("s2", 1, 1), ("s3", 1, 2), ("s4", 2, 1)}
        sigs = {
            (r["clearing_batch_number"], r["imaging_batch_number"]): (
                r["imaging_signature"],
                r["number_in_imaging_batch"],
            )
            for r in rows(ls.Request.ImagingBatch, **key)
        }
        assert sigs == {
            (1, 1): ({"1.3x": ["488", "647"]}, 2),
            (1, 2): ({"1.3x": ["488"]}, 1),
            (2, 1): ({"2x": ["488"], "3.6x": ["642"]}, 1),
        }
        prr = {(r["sample_name"], r["image_resolution"]) for r in rows(ls.Request.ProcessingResolutionRequest, **key)}
        assert prr == {("s1", "1.3x"), ("s2", "1.3x"), ("s3", "1.3x"), ("s4", "3.6x")}
        history = rows(ls.AntibodyHistory, username="ana", request_name="worked")
        assert [(h["clearing_batch_number"], h["primary_antibody"]) for h in history] == [(2, "anti-cFos 1:1000")]
        channels = rows(ls.Request.ImagingChannel, **key, sample_name="s1")
        assert {(c["channel_name"], c["registration"], c["cell_detection"]) for c in channels} == {
            ("488", 1, 0),
            ("647", 0, 1),
        }
        assert all(c["image_orientation"] == "horizontal" and c["ventral_up"] == 0 for c in channels)
        micro = {r["image_resolution"]: r["microscope"] for r in rows(ls.Request.ImagingResolutionRequest, **key)}
        assert micro == {"1.3x": "lavision", "3.6x": "smartspim", "2x": "lavision"}


def test_a_sample_with_only_2x_gets_no_processing_request(app, make_user):
    owner = make_user("ana")
    submit(app, new_request(owner, "only2x", [sample("a", resolution("2x", channel("488")))]))
    with app.app_context():
        ls = get_schemas().lightsheet
        assert not rows(ls.Request.ProcessingRequest, username="ana", request_name="only2x")
        assert len(rows(ls.Request.ImagingRequest, username="ana", request_name="only2x")) == 1


def test_the_submission_event_holds_the_whole_form(app, make_user):
    from lightserv.models import EventLog

    owner = make_user("ana")
    submit(app, worked_example(owner))
    with app.app_context():
        (event,) = EventLog.query.filter_by(action="request.submitted").all()
        assert (event.request_username, event.request_name, event.actor) == ("ana", "worked", "ana")
        assert [s["sample_name"] for s in event.after["samples"]] == ["s1", "s2", "s3", "s4"]


def test_self_clearing_and_self_imaging_assign_the_owner(app, make_user):
    owner = make_user("ana")
    req = new_request(owner, "selfie", [sample("a", expected_handoff_date=None)], self_clearing=True, self_imaging=True)
    submit(app, req)
    with app.app_context():
        ls = get_schemas().lightsheet
        (cb,) = rows(ls.Request.ClearingBatch, username="ana", request_name="selfie")
        assert cb["clearer"] == "ana"
        (ir,) = rows(ls.Request.ImagingRequest, username="ana", request_name="selfie")
        assert ir["imager"] == "ana" and ir["self_imaging"] == 1
        (ib,) = rows(ls.Request.ImagingBatch, username="ana", request_name="selfie")
        assert ib["imager"] == "ana"


def test_auditors_get_access_rows(app, make_user):
    owner = make_user("ana")
    make_user("bo")
    make_user("cy")
    submit(app, new_request(owner, "shared", auditors=["bo", "cy"]))
    with app.app_context():
        ls = get_schemas().lightsheet
        access = rows(ls.Request.Access, username="ana", request_name="shared")
        assert {(a["grantee"], a["access_level"], a["cc_on_emails"]) for a in access} == {
            ("bo", "auditor", 0),
            ("cy", "auditor", 0),
        }


def test_an_auditor_who_is_no_active_user_is_refused_and_no_user_is_created(app, make_user):
    from lightserv.extensions import db
    from lightserv.models import Account
    from lightserv.requests.services import RequestError

    owner = make_user("ana")
    make_user("gone", active=False)
    with pytest.raises(RequestError) as refused:
        submit(app, new_request(owner, "shared", auditors=["nosuchuser", "gone"]))
    assert refused.value.errors["auditors"] == [
        "No active user is named 'nosuchuser'. Choose a name from the suggestions.",
        "No active user is named 'gone'. Choose a name from the suggestions.",
    ]
    with app.app_context():
        ls = get_schemas().lightsheet
        assert not ls.User & {"username": "nosuchuser"} and not ls.Request()
        assert db.session.get(Account, "nosuchuser") is None


def test_a_failure_inside_the_transaction_leaves_no_partial_request(app, make_user, monkeypatch):
    from lightserv.requests import services

    owner = make_user("ana")

    def explode(*args, **kwargs):
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(services, "insert_processing_requests", explode)
    with pytest.raises(RuntimeError):
        submit(app, worked_example(owner))
    with app.app_context():
        ls = get_schemas().lightsheet
        assert not (ls.Request & {"username": "ana"})
        assert not (ls.Request.Sample & {"username": "ana"})
        assert not (ls.AntibodyHistory & {"username": "ana"})
        from lightserv.models import EventLog

        assert EventLog.query.filter_by(action="request.submitted").count() == 0


def test_folders_are_created_by_the_worker_with_mode_2770(app, make_user, settings):
    from celery.contrib.testing.worker import start_worker

    owner = make_user("ana")
    with start_worker(app.extensions["celery"], pool="solo", perform_ping_check=False):
        submit(app, worked_example(owner))
        base = settings.data_root / "ana" / "worked" / "s4" / "imaging_request_1"
        import time

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (base / "runs").exists():
            time.sleep(0.1)
    for sub in ("rawdata/resolution_3.6x", "rawdata/resolution_2x", "output", "viz", "runs"):
        folder = base / sub
        assert folder.is_dir(), folder
        assert folder.stat().st_mode & 0o7777 == 0o2770


def test_emails_reach_the_requester_and_the_clearing_staff(app, make_user, smtp):
    from celery.contrib.testing.worker import start_worker

    make_user("clara", roles=["clearing_staff"], email="clara@core.example")
    owner = make_user("ana")
    with start_worker(app.extensions["celery"], pool="solo", perform_ping_check=False):
        submit(app, worked_example(owner))
        messages = smtp.wait_for(2, app=app)
    by_subject = {m["Subject"]: (to, m) for to, m in messages}
    to, msg = by_subject["lightserv: Request received: worked"]
    assert to == ["ana@test.example"]
    assert "https://lightserv.test.example/requests/ana/worked" in msg.get_content()
    to, msg = by_subject["lightserv: New clearing request: ana/worked"]
    assert to == ["clara@core.example"]
    body = msg.get_content()
    assert "Batch 2: iDISCO+ (immunostaining); antibodies: anti-cFos 1:1000; 1 sample;" in body
