"""The request overview: who may open it, the six sections, every imaging and
processing request of every sample, activity paging, and a query count independent of
the number of samples."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import channel, new_request, resolution, sample, submit
from tests.requests.test_lists import as_user, counting_queries
from tests.support.auth import CSRF_RE

URL = "/requests/owner/brains"


@pytest.fixture
def world(app, make_user):
    """owner/brains (3 samples, two clearing batches) shared with an auditor and a collaborator."""
    from lightserv.db import get_schemas

    for name in ("owner", "auditor", "collab", "stranger"):
        make_user(name)
    make_user("clearer", roles=["clearing_staff"])
    make_user("admin", roles=["facility_admin"])
    samples = [
        sample("s1", resolution("1.3x"), perfusion_date=dt.date(2030, 1, 2)),
        sample("s2", resolution("2x"), expected_handoff_date=dt.date(2030, 1, 10)),
        sample("s3", protocol="idisco_plus_immuno", antibody1="rabbit anti-Fos 1:1000"),
    ]
    submit(
        app,
        new_request(
            "owner",
            "brains",
            samples,
            auditors=["auditor", "collab"],
            raw_data_retention_preference="kind_of_important",
        ),
    )
    with app.app_context():
        get_schemas().lightsheet.Request.Access.update1(
            {"username": "owner", "request_name": "brains", "grantee": "collab", "access_level": "collaborator"}
        )
    return "owner"


@pytest.mark.parametrize("user", ["owner", "auditor", "collab", "clearer", "admin"])
def test_everyone_who_may_view_the_request_opens_the_overview(client, world, user):
    as_user(client, user)
    resp = client.get(URL)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert re.search(r"<h1[^>]*>brains</h1>", html)
    for section in ("summary", "sharing", "clearing", "samples", "activity", "actions"):
        assert f'id="{section}"' in html, section


def test_a_stranger_gets_the_same_404_as_for_a_missing_request(client, world):
    as_user(client, "stranger")
    hidden = client.get(URL)
    missing = client.get("/requests/owner/no_such_request")
    assert hidden.status_code == missing.status_code == 404
    # the CSRF token carries the second it was signed in, so two pages a second apart differ there only
    assert CSRF_RE.sub("", hidden.get_data(as_text=True)) == CSRF_RE.sub("", missing.get_data(as_text=True))
    assert "brains" not in hidden.get_data(as_text=True)
    client.get("/logout")
    with client.session_transaction() as sess:
        sess.clear()
    assert client.get(URL).status_code == 302


def test_summary_shows_the_details_retention_preference_status_and_fractions(client, world, set_progress):
    set_progress("owner", "brains", clearing="in_progress")
    as_user(client, "auditor")
    html = client.get(URL).get_data(as_text=True)
    summary = html.split('id="summary"', 1)[1].split("</section>", 1)[0]
    assert 'data-testid="retention">Kind of important<' in summary  # the label, not the stored value
    assert 'data-testid="status-text">In progress<' in summary
    assert 'data-testid="cleared">0/3<' in summary
    assert 'data-testid="imaged">0/3<' in summary
    assert 'data-testid="processed">0/2<' in summary  # s2 is 2x only: no processing request
    assert "Test Lab" in summary and "owner@test.example" in summary and "Test request" in summary


def test_sharing_lists_the_owner_and_every_auditor_and_collaborator(client, world):
    as_user(client, "auditor")
    sharing = client.get(URL).get_data(as_text=True).split('id="sharing"', 1)[1].split("</section>", 1)[0]
    assert sharing.count('data-testid="access-row"') == 2
    assert "collab" in sharing and "Collaborator" in sharing and "Auditor (read-only)" in sharing
    assert "Give access" not in sharing  # only the owner and admins manage access
    as_user(client, "owner")
    assert "Give access" in client.get(URL).get_data(as_text=True)


def test_clearing_batches_show_protocol_antibodies_samples_and_earliest_hand_off(client, world):
    as_user(client, "owner")
    html = client.get(URL).get_data(as_text=True)
    batches = html.split('id="clearing"', 1)[1].split("</section>", 1)[0].split('data-testid="clearing-batch"')[1:]
    assert len(batches) == 2
    assert "s1, s2" in batches[0] and "01/10/2030" in batches[0] and "Not assigned" in batches[0]
    assert "rabbit anti-Fos 1:1000" in batches[1] and "s3" in batches[1]
    assert "Ready to clear" in batches[0] and "/clearing/batch/owner/brains/1/log" in batches[0]
    samples = html.split('id="samples"', 1)[1].split("</section>", 1)[0]
    assert "/clearing/batch/" not in samples  # per sample, the clearing log is linked once the batch is cleared


def test_every_imaging_and_every_processing_request_of_every_sample_is_listed(app, client, world, set_progress):
    from lightserv.db import get_schemas
    from lightserv.runs.engine import create_run
    from lightserv.runs.model import StageDef

    set_progress("owner", "brains", clearing="complete", imaging="complete")
    with app.app_context():
        part = get_schemas().lightsheet.Request
        for s in ("s1", "s3"):
            ir = (part.ImagingRequest & {"sample_name": s}).to_dicts()[0]
            part.ImagingRequest.insert1({**ir, "imaging_request_number": 2, "imaging_progress": "pending"})
        pr = (part.ProcessingRequest & {"sample_name": "s1"}).to_dicts()[0]
        for number in (2, 3):
            part.ProcessingRequest.insert1(
                {**pr, "processing_request_number": number, "processing_progress": "running"}
            )
    with app.test_request_context():
        target = dict(username="owner", request_name="brains", sample_name="s1", imaging_request_number=1)
        target.update(processing_request_number=1, image_resolution="1.3x")
        create_run(
            "lavision_pipeline", target, [StageDef("blend", "lib.cluster.types")], {}, created_by="t", output_dir="x"
        )
    as_user(client, "collab")
    html = client.get(URL).get_data(as_text=True)
    samples = html.split('id="samples"', 1)[1].split("</section>", 1)[0].split('data-testid="sample-card"')[1:]
    counts = [(s.count('data-testid="imaging-request"'), s.count('data-testid="processing-request"')) for s in samples]
    assert counts == [(2, 4), (1, 1), (2, 2)]  # s1: PR 1-3 + "none" for IR 2; s2: 2x only; s3: 1 + none
    s1 = samples[0]
    assert "Additional imaging (request 2)" in s1
    assert all(f"Additional processing (request {n})" in s1 for n in (2, 3))
    assert "Stage 1 of 1: blend — Not submitted" in s1  # the latest run's stage summary
    assert "Processing in progress" in s1 and "No processing requested" in samples[1]
    assert "/clearing/batch/owner/brains/1/log" in s1


def test_actions_depend_on_who_is_looking(client, world, set_progress):
    as_user(client, "owner")
    actions = client.get(URL).get_data(as_text=True).split('id="actions"', 1)[1].split("</section>", 1)[0]
    assert "Request additional imaging" in actions and "Give feedback" in actions
    assert 'data-testid="delete-dialog"' in actions
    as_user(client, "auditor")
    actions = client.get(URL).get_data(as_text=True).split('id="actions"', 1)[1].split("</section>", 1)[0]
    assert "Request additional imaging" not in actions and "Give feedback" not in actions
    assert "delete-dialog" not in actions and "delete" not in actions.lower()  # no action an auditor cannot take
    assert "its owner and the facility make the changes" in actions
    as_user(client, "collab")
    actions = client.get(URL).get_data(as_text=True).split('id="actions"', 1)[1].split("</section>", 1)[0]
    assert "Request additional imaging" in actions and "Give feedback" in actions
    set_progress("owner", "brains", clearing="in_progress", imaging="complete")
    as_user(client, "owner")
    actions = client.get(URL).get_data(as_text=True).split('id="actions"', 1)[1].split("</section>", 1)[0]
    assert "delete-dialog" not in actions and "Clearing has already started" in actions
    assert "core@test.example" in actions
    assert "Request additional processing for imaging request 1" in actions


def test_activity_shows_this_requests_events_newest_first_twenty_per_page(app, client, world):
    from lightserv.common.audit import record_event
    from lightserv.extensions import db

    with app.test_request_context():
        for i in range(25):
            record_event(
                "clearing.step_saved",
                "clearing_batch",
                {"n": i},
                f"step {i:02d} saved",
                request_key=("owner", "brains"),
                actor="clearer",
            )
        record_event("clearing.step_saved", "clearing_batch", {}, "another request", request_key=("owner", "other"))
        db.session.commit()
    as_user(client, "auditor")
    first = client.get(URL).get_data(as_text=True).split('id="activity"', 1)[1].split("</section>", 1)[0]
    summaries = re.findall(r"step (\d\d) saved", first)
    assert len(summaries) == 20 and summaries[0] == "24" and summaries[-1] == "05"
    assert "another request" not in first and "Page 1 of 2" in first
    second = client.get(URL + "?activity_page=2").get_data(as_text=True).split('id="activity"', 1)[1]
    assert re.findall(r"step (\d\d) saved", second.split("</section>", 1)[0])[:5] == ["04", "03", "02", "01", "00"]


def test_the_overview_costs_the_same_number_of_queries_for_one_sample_or_ten(app, client, make_user, set_progress):
    make_user("ana")
    as_user(client, "ana")
    costs = []
    for name, n in (("small", 1), ("large", 10)):
        samples = [sample(f"s{i}", resolution("1.3x"), resolution("3.6x")) for i in range(n)]
        submit(app, new_request("ana", name, samples))
        set_progress("ana", name, clearing="complete", imaging="complete")
        client.get(f"/requests/ana/{name}")
        with counting_queries() as calls:
            assert client.get(f"/requests/ana/{name}").status_code == 200
        costs.append(len(calls))
    assert costs[0] == costs[1], costs


def test_hostile_activity_page_values_never_cause_a_server_error(client, world):
    as_user(client, "owner")

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.one_of(st.text(max_size=30), st.sampled_from(["-5", "0", "9" * 5000, "1e3", "2.5", "\x00"])))
    def check(value):
        assert client.get(URL, query_string={"activity_page": value, "_scheme": value}).status_code == 200

    check()


def sample_cards(client) -> dict[str, str]:
    """sample name -> the HTML of its card on the request page."""
    section = client.get(URL).get_data(as_text=True).split('id="samples"', 1)[1].split("</section>", 1)[0]
    cards = section.split('data-testid="sample-card"')[1:]
    return {re.search(r'id="sample-\d+-title">([^<\s]+)', c).group(1): c for c in cards}


def step_of(card: str) -> tuple[str, str]:
    """(badge text, colour class) of a card's current step."""
    badge = re.search(r'class="badge status-badge (status-\w+)" data-testid="sample-step">([^<]+)<', card)
    return badge.group(2), badge.group(1)


def test_each_card_says_where_its_sample_is_and_what_comes_next(app, client, world, set_progress):
    from lightserv.db import get_schemas

    as_user(client, "owner")
    cards = sample_cards(client)
    assert list(cards) == ["s1", "s2", "s3"]
    assert step_of(cards["s1"]) == ("Waiting for the clearing team", "status-pending")
    assert 'aria-current="step"' in cards["s1"].split("Imaging</span>")[0]  # clearing is the current step
    set_progress("owner", "brains", clearing="in_progress")
    assert step_of(sample_cards(client)["s3"]) == ("Clearing in progress", "status-progress")
    set_progress("owner", "brains", clearing="complete")
    cards = sample_cards(client)
    assert step_of(cards["s1"]) == ("Waiting for the imaging team", "status-pending")
    assert "Processing comes after imaging." in cards["s1"]
    set_progress("owner", "brains", imaging="complete")
    cards = sample_cards(client)
    assert step_of(cards["s1"]) == ("Waiting for the processing team", "status-pending")
    assert step_of(cards["s2"]) == ("Imaged", "status-complete")  # 2x: nothing to process
    assert "No processing was requested" in cards["s2"] and "not needed" in cards["s2"]
    with app.app_context():
        part = get_schemas().lightsheet.Request
        pkey = {"username": "owner", "request_name": "brains", "sample_name": "s3", "imaging_request_number": 1}
        part.ProcessingRequest.update1(
            {**pkey, "processing_request_number": 1, "processing_progress": "failed", "failure_summary": "out of disk"}
        )
    s3 = sample_cards(client)["s3"]
    assert step_of(s3) == ("Processing needs attention", "status-attention")
    assert "out of disk" in s3 and "the facility is looking into it" in s3
    assert 'data-testid="view-data"' not in s3


def test_each_card_shows_what_was_ordered(app, client, make_user):
    make_user("ana")
    channels = (channel("488", "registration"), channel("647", "cell_detection"))
    regcells = resolution("1.3x", *channels, atlas_name="paxinos")
    samples = [sample("s1", regcells, resolution("2x", channel("555", "generic_imaging")))]
    submit(app, new_request("ana", "brains", samples))
    as_user(client, "ana")
    ordered = client.get("/requests/ana/brains").get_data(as_text=True).split('data-testid="ordered"', 1)[1]
    assert "1.3x: 488 nm: registration; 647 nm: cell detection" in ordered
    assert "2x: 555 nm: generic imaging" in ordered
    assert "1.3x: Franklin–Paxinos mouse brain atlas, sagittal output" in ordered


def test_the_processing_line_links_the_atlas_viewer_only_when_registration_was_ordered(app, client, make_user):
    make_user("owner")
    registered = resolution("1.3x", channel("488", "registration"), atlas_name="paxinos")
    plain = resolution("1.3x", channel("488", "generic_imaging"))
    submit(app, new_request("owner", "brains", [sample("s1", registered), sample("s2", plain)]))
    as_user(client, "owner")
    cards = sample_cards(client)
    link = re.search(r'<a[^>]*href="([^"]+)"[^>]*data-testid="atlas-link">([^<]+)</a>', cards["s1"])
    assert link and link.groups() == ("/viewer/atlas/paxinos", "Open the Franklin–Paxinos mouse brain atlas")
    processing = cards["s1"].split('data-testid="processing-request"', 1)[1]
    assert 'data-testid="atlas-link"' in processing  # in the processing section, beside its results
    assert "1.3x: sagittal output" in cards["s2"] and "atlas" not in cards["s2"].lower()  # no registration ordered
