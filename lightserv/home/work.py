"""The staff sections of the home page: for each team, the work a person holds and the work nobody has taken
yet, read with the team's own queue queries (lightserv.clearing/imaging/processing.queries).

Each item says how long it has waited and when it is due: the day the team's daily reminder starts listing
it (clearing: `AWAITING_DAYS` after the earliest expected hand-off; imaging: `WAITING_DAYS` after clearing
finished; processing: `READY_DAYS` after imaging was performed while nobody started it, `RUNNING_DAYS` after
it started while it runs). After that day the item is overdue.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from dataclasses import dataclass

from flask import url_for

from lightserv.common.pagination import Page, PageRequest
from lightserv.common.permissions import can, roles_of
from lightserv.common.timefmt import to_local
from lightserv.viewer.pages import ago

LIMIT = 8


@dataclass(frozen=True)
class WorkItem:
    """One batch or processing request on a staff member's home page."""

    username: str
    request_name: str
    what: str  # "Clearing batch 2 · 3 samples · iDISCO abbreviated"
    state: str  # "Being cleared", "Claimed, not started", ...
    since: str  # "Submitted 3 days ago"
    due: dt.date | None
    overdue: bool
    url: str
    action: str  # the link's words
    failed: bool = False


@dataclass(frozen=True)
class TeamWork:
    """A team's section: the person's own items, then (for those who may take work) the open ones."""

    key: str
    title: str
    queue_url: str
    mine: list[WorkItem]
    mine_total: int
    open: list[WorkItem] | None  # None: the person may not take work of this team
    open_total: int
    open_title: str
    failed_total: int = 0


def counted(n: int, noun: str) -> str:
    """ "1 sample", "3 samples"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _first(sort: str, direction: str = "asc") -> PageRequest:
    return PageRequest(page=1, per_page=LIMIT, sort=sort, direction=direction)


def _due(start: dt.date | None, days: int) -> dt.date | None:
    return start + dt.timedelta(days=days) if start else None


def _local_date(value: dt.datetime | None, tz: str) -> dt.date | None:
    return to_local(value, tz).date() if value else None


def _since(row: dict, word: str, column: str) -> str:
    """ "Started 3 days ago" from `column`, or from the submission when `column` is empty."""
    return f"{word} {ago(row[column])}" if row.get(column) else f"Submitted {ago(row['submitted_at'])}"


def _items(pages: list[Page], make: Callable[[dict], WorkItem]) -> tuple[list[WorkItem], int]:
    """The rows of `pages` as items (at most LIMIT) and their total."""
    rows = [row for page in pages for row in page.items][:LIMIT]
    return [make(row) for row in rows], sum(page.total for page in pages)


# --- clearing and imaging: batches people claim ----------------------------------------------------------


@dataclass(frozen=True)
class BatchTeam:
    """How a team that claims batches reads its queue (the module `queries` has `list_queue` and
    `QueueFilter`; `access` has `queue_relation`)."""

    key: str
    title: str
    role: str
    queries: str
    access: str
    held: tuple[tuple[str, str], ...]  # (queue table, sort) of the work a person holds, in order
    unclaimed: tuple[str, str]  # (queue table, sort) of the work nobody holds
    open_title: str
    holder: str  # the column naming who holds a batch
    working: str  # the state of a started batch, in words
    waiting: tuple[str, str]  # (word, column) saying since when a batch not started has waited
    resume: str  # the link's words on a started batch


def _batch_team(team: BatchTeam, user, item: Callable[[dict], WorkItem]) -> TeamWork | None:
    q, access = importlib.import_module(team.queries), importlib.import_module(team.access)
    viewer = user.get_id()
    if team.role not in roles_of(user) and access.queue_relation(viewer) is None:
        return None  # neither on the team nor doing this step of a request of their own
    sees_all, held = can(user, f"{team.key}.open_queue"), q.QueueFilter(only_mine=True)
    pages = [q.list_queue(table, viewer, sees_all, held, _first(sort)) for table, sort in team.held]
    mine, mine_total = _items(pages, item)
    open_items, open_total = None, 0
    if can(user, f"{team.key}.claim"):
        table, sort = team.unclaimed
        open_page = q.list_queue(table, viewer, sees_all, q.QueueFilter(unassigned=True), _first(sort))
        open_items, open_total = _items([open_page], item)
    return TeamWork(team.key, team.title, url_for(f"{team.key}.queue"), mine, mine_total, open_items, open_total,
                    team.open_title)  # fmt: skip


CLEARING = BatchTeam(
    "clearing", "Clearing", "clearing_staff", "lightserv.clearing.queries", "lightserv.clearing.access",
    (("in_progress", "submitted"), ("pending", "handoff")), ("pending", "handoff"), "Ready to clear, not claimed",
    holder="clearer", working="Being cleared", waiting=("Submitted", "submitted_at"), resume="Continue clearing",
)  # fmt: skip
IMAGING = BatchTeam(
    "imaging", "Imaging", "imaging_staff", "lightserv.imaging.queries", "lightserv.imaging.access",
    (("in_progress", "submitted"), ("ready", "submitted")), ("ready", "submitted"), "Ready to image, not claimed",
    holder="imager", working="Being imaged", waiting=("Cleared", "cleared_at"), resume="Continue imaging",
)  # fmt: skip


def _batch_item(
    team: BatchTeam, row: dict, user, today: dt.date, *, what: str, due: dt.date | None, url: str
) -> WorkItem:
    """A batch on the home page: not started yet, it says who claimed it, how long it has waited and when it is
    due; started, it says how long it has run."""
    pending = row[f"{team.key}_progress"] == "pending"
    due = due if pending else None
    return WorkItem(
        row["username"],
        row["request_name"],
        what,
        _claim_state(row[team.holder], user, pending, team.working),
        _since(row, *team.waiting) if pending else _since(row, "Started", "started_at"),
        due,
        bool(due and today > due),
        url,
        "Open" if pending else team.resume,
    )


def clearing_work(user, today: dt.date, tz: str) -> TeamWork | None:
    from lightserv.clearing.tasks import AWAITING_DAYS

    def item(row: dict) -> WorkItem:
        what = (
            f"Clearing batch {row['clearing_batch_number']} · {counted(row['number_in_batch'], 'sample')}"
            f" · {row['protocol_label']}"
        )
        url = url_for("clearing.batch_form", username=row["username"], request_name=row["request_name"],
                      number=row["clearing_batch_number"])  # fmt: skip
        return _batch_item(CLEARING, row, user, today, what=what, due=_due(row["earliest_handoff"], AWAITING_DAYS),
                           url=url)  # fmt: skip

    return _batch_team(CLEARING, user, item)


def imaging_work(user, today: dt.date, tz: str) -> TeamWork | None:
    from lightserv.imaging.tasks import WAITING_DAYS

    def item(row: dict) -> WorkItem:
        number = row["imaging_request_number"]
        follow_up = f" (additional imaging request {number})" if number > 1 else ""
        kind = " · ".join(filter(None, [row["microscope_label"], row["resolutions"]]))
        what = (
            f"Imaging batch {row['imaging_batch_number']}{follow_up}"
            f" · {counted(row['number_in_imaging_batch'], 'sample')}" + (f" · {kind}" if kind else "")
        )
        url = url_for("imaging.batch_form", username=row["username"], request_name=row["request_name"],
                      clearing_batch=row["clearing_batch_number"], imaging_request=number,
                      imaging_batch=row["imaging_batch_number"])  # fmt: skip
        due = _due(_local_date(row["cleared_at"], tz), WAITING_DAYS)
        return _batch_item(IMAGING, row, user, today, what=what, due=due, url=url)

    return _batch_team(IMAGING, user, item)


def _claim_state(holder: str | None, user, pending: bool, working: str) -> str:
    if not pending:
        return working
    return "Claimed, not started" if holder == user.get_id() else "Not claimed"


# --- processing -------------------------------------------------------------------------------------------


def processing_work(user, today: dt.date, tz: str) -> TeamWork | None:
    from lightserv.processing import queries as q
    from lightserv.processing.tasks import READY_DAYS, RUNNING_DAYS

    if "processing_staff" not in roles_of(user):
        return None
    viewer = user.get_id()

    def item(row: dict) -> WorkItem:
        progress = row["processing_progress"]
        due, since = None, _since(row, "Started", "started_at")
        if progress == "running":
            due = _due(_local_date(row["started_at"], tz), RUNNING_DAYS)
        elif progress == "pending":
            performed = row["imaging_performed_date"] or _local_date(row["submitted_at"], tz)
            due = _due(performed, READY_DAYS)
            since = f"Imaged {ago(dt.datetime.combine(performed, dt.time()))}"
        pkey = {k: row[k] for k in q.PR_KEY}
        number = row["processing_request_number"]
        kind = " · ".join(filter(None, [row["microscopes"], row["resolutions"]]))
        return WorkItem(
            row["username"],
            row["request_name"],
            f"Sample {row['sample_name']}"
            + (f" (processing request {number})" if number > 1 else "")
            + (f" · {kind}" if kind else ""),
            {"running": "Running", "pending": "Ready to start", "failed": "Failed"}.get(progress, progress),
            since,
            due,
            bool(due and today > due),
            url_for("processing.entry_form" if progress == "pending" else "processing.processing_log", **pkey),
            "Start" if progress == "pending" else "Open log",
            failed=progress == "failed",
        )

    mine, mine_total = _items(
        [
            q.list_queue("attention", viewer, True, _first("submitted", "desc"), processor=viewer),
            q.list_queue("running", viewer, True, _first("submitted"), processor=viewer),
        ],
        item,
    )
    open_items, open_total = _items([q.list_queue("ready", viewer, True, _first("submitted"))], item)
    return TeamWork("processing", "Processing", url_for("processing.queue"), mine, mine_total, open_items,
                    open_total, "Ready to process, not started", failed_total=failed_processing(viewer))  # fmt: skip


def failed_processing(viewer: str) -> int:
    """How many processing requests failed (the processing queue's "Needs attention" table)."""
    from lightserv.processing.queries import list_queue

    first = PageRequest(page=1, per_page=1, sort="submitted", direction="desc")
    return list_queue("attention", viewer, True, first).total


TEAMS = (clearing_work, imaging_work, processing_work)


def team_work(user, today: dt.date, tz: str) -> list[TeamWork]:
    """The sections of every team the person works in (by role, or by holding a batch of their own)."""
    return [section for build in TEAMS if (section := build(user, today, tz)) is not None]
