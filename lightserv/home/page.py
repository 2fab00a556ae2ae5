"""What the home page shows a person: the sections of each of their roles, in a fixed number of queries.

- Researcher (anyone who owns a request, is named on one, or holds no staff role): what needs their action,
  data that became ready, recent changes in sentences, their requests and those shared with them.
- Staff: per team they work in, the work they hold and the work nobody has taken (lightserv.home.work).
- Admin: the facility's queues, failures, storage and live viewer sessions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app, url_for

from lightserv.common.activity import PRODUCT_WORDS, describe
from lightserv.common.audit import utcnow
from lightserv.common.pagination import Page, PageRequest
from lightserv.common.permissions import ADMIN, STAFF_ROLES, can, roles_of
from lightserv.common.timefmt import to_local
from lightserv.requests.routes.lists import optional_url

from . import queries
from .work import TeamWork, failed_processing, team_work


@dataclass
class Researcher:
    own: Page | None
    shared: queries.Listed
    handoffs: queries.Listed
    feedback: queries.Listed
    failed: queries.Listed
    ready: queries.Listed
    events: list[tuple] = field(default_factory=list)  # (EventLog row, its sentence)
    new_request_url: str | None = None

    @property
    def owns(self) -> bool:
        return bool(self.own and self.own.total)

    @property
    def to_do(self) -> int:
        return self.handoffs.total + self.feedback.total + self.failed.total


@dataclass
class Admin:
    queues: list  # lightserv.admin.queries.dashboard.Figure per team, with its queue's URL
    failed_processing: int
    attention: dict[str, int]
    storage: dict | None
    failures: list[tuple]  # (EventLog row, its sentence), newest first


@dataclass
class Home:
    researcher: Researcher | None
    teams: list[TeamWork]
    work_events: list[tuple]  # changes by others to the work the person holds: (EventLog row, its sentence)
    admin: Admin | None


def _sentences(events: list) -> list[tuple]:
    return [(e, describe(e)) for e in events]


def _ready_rows(found: queries.Listed) -> queries.Listed:
    """Each ready row with what it shows in words and the link to its viewer setup page."""
    for row in found.rows:
        row["what"] = ", ".join(PRODUCT_WORDS.get(p, p) for p in (row["products"] or "").split(","))
        key = {k: row[k] for k in ("username", "request_name", "sample_name", "imaging_request_number")}
        number = row["processing_request_number"]
        if number:
            row["view_url"] = optional_url("viewer", **key, processing_request_number=number)
        else:
            row["view_url"] = optional_url("viewer_raw", **key)
    return found


def researcher_section(user) -> Researcher | None:
    """The researcher's part, for anyone with requests of their own or shared, and for people without a staff
    role (whose home it is even before their first request)."""
    from lightserv.requests.queries import ListFilter, list_requests

    viewer, roles = user.get_id(), roles_of(user)
    counts = queries.count_requests(viewer)
    if not (counts["own"] or counts["shared"]) and roles & STAFF_ROLES:
        return None
    own = None
    if counts["own"]:
        first = PageRequest(page=1, per_page=queries.LIMIT, sort="submitted_at", direction="desc")
        own = list_requests(viewer, roles, first, ListFilter(owner=viewer, only_mine=True))
    empty = queries.Listed([], 0)
    return Researcher(
        own=own,
        shared=queries.list_shared_requests(viewer) if counts["shared"] else empty,
        handoffs=queries.list_handoffs(viewer) if counts["own"] else empty,
        feedback=queries.list_feedback_due(viewer),
        failed=queries.list_failed_processing(viewer),
        ready=_ready_rows(queries.list_ready_data(viewer)),
        events=_sentences(queries.list_recent_events(viewer)),
        new_request_url=optional_url("requests.new_request") if can(user, "request.submit") else None,
    )


def admin_section(user) -> Admin | None:
    if ADMIN not in roles_of(user):
        return None
    from lightserv.admin import storage
    from lightserv.admin.queries import dashboard

    queues = [
        (dashboard.clearing_queue(), url_for("clearing.queue")),
        (dashboard.imaging_queue(), url_for("imaging.queue")),
        (dashboard.processing_queue(), url_for("processing.queue")),
    ]
    latest = storage.list_snapshots(limit=1)
    return Admin(
        queues,
        failed_processing(user.get_id()),
        queries.count_attention(),
        latest[0] if latest else None,
        _sentences(queries.list_failure_events()),
    )


def build_home(user) -> Home:
    tz = current_app.config["SETTINGS"].display_timezone
    teams = team_work(user, to_local(utcnow(), tz).date(), tz)
    work_events = _sentences(queries.list_work_events(user.get_id())) if teams else []
    return Home(researcher_section(user), teams, work_events, admin_section(user))
