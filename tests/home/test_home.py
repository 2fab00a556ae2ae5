"""The home page at `/`: one page per role, in words (tests/home/world.py describes the facility)."""

from __future__ import annotations

import html as htmllib
import re
from contextlib import contextmanager

import pytest

from tests.home import world as facility
from tests.requests.test_lists import counting_queries
from tests.support.auth import sign_in


@pytest.fixture
def world(app, make_user):
    return facility.build(app, make_user)


def home_as(client, username: str) -> str:
    sign_in(client, username)
    resp = client.get("/")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def words(markup: str) -> str:
    """What a reader sees: the text without tags, spaces collapsed (none before punctuation)."""
    text = " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", markup)).split())
    return re.sub(r" ([,.:;])", r"\1", text)


def part(page: str, testid: str, end: str = "</section>") -> str:
    """The markup inside the element marked `data-testid=testid`, up to `end` (a list: "</ul>")."""
    assert f'data-testid="{testid}"' in page, f"no {testid} on the page"
    rest = page.split(f'data-testid="{testid}"', 1)[1].split(">", 1)[1]
    return rest.split(end, 1)[0]


def rows(markup: str, testid: str) -> list[str]:
    return [words(r) for r in re.findall(rf'data-testid="{testid}">(.*?)</li>', markup, re.S)]


def test_a_researcher_sees_what_needs_them_the_data_ready_and_recent_changes_in_sentences(client, world):
    page = home_as(client, "ana")

    todo = part(page, "needs-action")
    assert rows(todo, "todo-handoff") == [
        "Hand off 2 samples of waiting, expected on 01/15/2030. Before you hand off your samples"
    ]
    assert rows(todo, "todo-feedback") == ["done is complete. Tell the facility how it went. Give feedback"]
    assert 'href="/requests/ana/done/feedback"' in todo
    (failed,) = rows(todo, "todo-failed")
    assert failed.startswith("Needs attention Processing of sample s1 of broken did not finish")
    assert "The registration did not converge. The facility is looking into it." in failed

    ready = part(page, "ready-data")
    (row,) = rows(ready, "ready-row")
    assert row.startswith("Sample s1 of done Atlas-registered image Ready since ")
    assert re.search(r"Ready since \d\d/\d\d/\d{4} \d{1,2}:\d\d [AP]M E[SD]T View data", row), row
    assert 'href="/viewer/setup/ana/done/s1/1/1" data-testid="view-data">View data</a>' in ready

    changes = words(part(page, "recent-changes"))
    assert facility.READY_SENTENCE in changes
    assert "Processing of sample s1 (processing request 1) did not finish" in changes
    assert "ana submitted the request." in changes
    assert "A processing step moved on." not in changes  # the machinery's job states stay on the request page
    assert "bob" not in changes and "late" not in changes  # nobody else's requests
    assert not re.search(r"\b[a-z]+\.[a-z_]+\b", changes), "an action code reached the feed"

    own = part(page, "your-requests")
    assert sorted(r.split(" Submitted")[0] for r in rows(own, "own-row")) == ["broken", "done", "waiting"]
    assert "Start a new request" in own
    for absent in ("shared-with-you", "home-admin", "team-clearing", "work-changes"):
        assert f'data-testid="{absent}"' not in page
    assert "registered_ch488" not in page and "layer.ready" not in page


def test_an_auditor_sees_what_is_shared_with_them_and_no_action_they_cannot_take(client, world):
    page = home_as(client, "aud")

    shared = part(page, "shared-with-you")
    assert sorted(r.split(" Read-only")[0] for r in rows(shared, "shared-row")) == ["done (ana)", "waiting (ana)"]
    assert all("Read-only access" in r for r in rows(shared, "shared-row"))
    assert "Complete" in words(shared) and "Pending" in words(shared)
    assert 'data-testid="your-requests"' not in page and "Your requests" not in page
    assert 'data-testid="needs-action"' not in page
    assert "Give feedback" not in page and "Delete" not in page and "Hand off" not in page
    assert "Start a new request" not in page  # anyone may file their own request: offered quietly, in other words
    assert "Start a request of your own" in part(page, "own-request-note")

    assert 'href="/viewer/setup/ana/done/s1/1/1"' in part(page, "ready-data")  # auditors may open viewers
    changes = words(part(page, "recent-changes"))
    assert facility.READY_SENTENCE in changes
    assert "broken" not in changes  # not shared with aud


def test_a_collaborator_is_asked_for_feedback_but_not_to_hand_off_samples(client, world):
    page = home_as(client, "col")
    todo = part(page, "needs-action")
    assert rows(todo, "todo-feedback") == ["done (ana) is complete. Tell the facility how it went. Give feedback"]
    assert "todo-handoff" not in todo
    assert [r.split(" Collaborator")[0] for r in rows(part(page, "shared-with-you"), "shared-row")] == ["done (ana)"]


def test_clearing_staff_see_their_batches_and_the_unclaimed_queue_with_ages_due_dates_and_overdue_ones(client, world):
    page = home_as(client, "cleo")
    team = part(page, "team-clearing")
    (held,) = rows(part(team, "mine-clearing", "</ul>"), "work-row")
    assert held.startswith("held (bob) Clearing batch 1 · 1 sample · iDISCO for non-oxidizable fluorophores")
    assert "Being cleared · Started just now" in held
    assert held.endswith("Continue clearing")

    late, waiting = rows(part(team, "open-clearing", "</ul>"), "work-row")  # earliest hand-off first
    assert late.startswith("late (bob) Clearing batch 1 · 1 sample")
    assert "Overdue Not claimed · Submitted just now · was due 01/09/2020" in late and late.endswith("Open")
    assert waiting.startswith("waiting (ana) Clearing batch 1 · 2 samples")
    assert "Not claimed · Submitted just now · due 01/22/2030" in waiting and "Overdue" not in waiting
    assert re.search(r'status-attention" data-testid="work-row">\s*<div>\s*<div><a href="/requests/bob/late"', team)

    assert facility.ASSIGNED_SENTENCE in words(part(page, "work-changes"))
    for absent in ("home-researcher", "home-admin", "team-imaging", "team-processing"):
        assert f'data-testid="{absent}"' not in page


def test_imaging_staff_see_the_batch_they_image_and_cleared_batches_nobody_claimed(client, world):
    page = home_as(client, "ian")
    team = part(page, "team-imaging")
    (mine,) = rows(part(team, "mine-imaging", "</ul>"), "work-row")
    assert mine.startswith("imaging (bob) Imaging batch 1 · 1 sample · LaVision · 1.3x Being imaged · Started just now")
    assert mine.endswith("Continue imaging")
    (cleared,) = rows(part(team, "open-imaging", "</ul>"), "work-row")
    assert cleared.startswith("cleared (bob) Imaging batch 1 · 1 sample")
    assert "Overdue Not claimed · Cleared 10 days ago · was due" in cleared
    assert "bob submitted the request." in words(part(page, "work-changes"))


def test_processing_staff_see_their_runs_failures_and_ready_requests_nobody_started(client, world):
    page = home_as(client, "pat")
    team = part(page, "team-processing")
    assert words(part(team, "team-failed", "</p>")).startswith("Needs attention 1 processing request failed.")
    mine = rows(part(team, "mine-processing", "</ul>"), "work-row")
    assert mine[0].startswith("broken (ana) Sample s1 · LaVision · 1.3x Needs attention Failed · Started 5 hours ago")
    assert mine[1].startswith("running (bob) Sample s1 · LaVision · 1.3x Running · Started 1 hour ago · due")
    ready = rows(part(team, "open-processing", "</ul>"), "work-row")
    assert [r.split(" Sample")[0] for r in ready] == ["imaged (bob)"]
    assert "Overdue Ready to start · Imaged 10 days ago · was due" in ready[0] and ready[0].endswith("Start")
    assert "The registration" not in words(part(page, "work-changes"))  # pat's own failure event is no news to pat


def test_the_admin_sees_queues_failures_storage_and_live_viewer_sessions(client, world):
    page = home_as(client, "boss")
    admin = page.split('data-testid="home-admin"', 1)[1].split("</section>", 1)[0]
    clearing = words(part(admin, "queue-clearing"))
    assert "Clearing batches by state" in clearing and "Ready to clear 2" in clearing and "Being cleared 1" in clearing
    assert "Ready to image 1" in words(part(admin, "queue-imaging"))
    assert "Failed 1" in words(part(admin, "queue-processing"))

    failures = words(admin.split('data-testid="failures"', 1)[1].split('data-testid="storage"', 1)[0])
    assert "Needs attention 1 failed processing request" in failures
    assert "Needs attention 1 email not delivered" in failures
    assert "Needs attention 1 data layer could not be prepared for viewing" in failures
    assert "An email could not be delivered." in failures
    assert "Processing of sample s1 (processing request 1) did not finish" in failures
    assert 'href="/admin/events?action=email.failed"' in admin

    storage = words(admin.split('data-testid="storage"', 1)[1].split('data-testid="viewer-sessions"', 1)[0])
    assert "All clear 40.00 TB available of 100.00 TB." in storage
    sessions = admin.split('data-testid="viewer-sessions"', 1)[1]
    assert "1 live session" in words(sessions) and 'href="/viewer/admin/sessions"' in sessions
    assert 'data-testid="home-researcher"' not in page and 'data-testid="team-clearing"' not in page


def test_a_person_with_several_roles_sees_the_sections_of_each(app, client, world, make_user):
    from tests.factories import new_request, submit

    make_user("duo", roles=["clearing_staff", "facility_admin"])
    submit(app, new_request("duo", "own_brains"))
    page = home_as(client, "duo")
    for section in ("home-admin", "team-clearing", "work-changes", "home-researcher", "needs-action"):
        assert f'data-testid="{section}"' in page
    assert "Hand off 1 sample of own_brains" in words(part(page, "needs-action"))


def test_someone_new_is_welcomed_with_a_way_to_start(client, make_user):
    make_user("newbie")
    page = home_as(client, "newbie")
    assert "You have no requests yet." in page and "Start a new request" in page
    assert "Nothing has happened on your requests yet." in page
    assert 'data-testid="needs-action"' not in page


@contextmanager
def counting_app_queries(app):
    """Count the statements sent through SQLAlchemy (the application database) inside the block."""
    from sqlalchemy import event

    from lightserv.extensions import db

    calls: list[str] = []

    def count(conn, cursor, statement, *args):
        calls.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield calls
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.mark.parametrize("username", ["ana", "aud", "cleo", "ian", "pat", "boss"])
def test_the_number_of_queries_does_not_grow_with_the_facility(app, client, world, username):
    from tests.factories import new_request, submit

    def cost() -> int:
        with counting_queries() as dj_calls, counting_app_queries(app) as app_calls:
            home_as(client, username)
        return len(dj_calls) + len(app_calls)

    before = cost()
    for i in range(12):
        submit(app, new_request("ana", f"more_{i}", auditors=["aud"]))
        submit(app, new_request("bob", f"more_{i}"))
    assert cost() == before
