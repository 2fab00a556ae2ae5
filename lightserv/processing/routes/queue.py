"""The processing queue and its CSV: six tables, each sorted and paginated in SQL. Staff see every
processing request; others see those of requests they may view."""

from __future__ import annotations

from markupsafe import Markup, escape

from lightserv.common.permissions import STAFF_ROLES, login_required, roles_of
from lightserv.common.status import PROCESSING_PROGRESS_LABELS
from lightserv.workflow import queue as wq

from .. import queries
from ..pages import BADGE
from . import bp


def _failure(row: dict) -> str:
    """What failed, for a failed processing request only (the CSV's column and the current stage's cell)."""
    return row["failure_summary"] if row["processing_progress"] == "failed" else ""


#: the badge of a processing request's progress: the colour of the stage state it stands for
BADGES = {"pending": BADGE["waiting"], "running": BADGE["running"], "complete": BADGE["succeeded"],
          "failed": BADGE["failed"]}  # fmt: skip


def _progress(_table: str, row: dict) -> Markup:
    value = row["processing_progress"]
    return Markup('<span class="badge %s">%s</span>') % (BADGES[value], PROCESSING_PROGRESS_LABELS[value])


def _stage(_table: str, row: dict) -> Markup:
    """The current stage, and under it what failed when the request needs attention."""
    failed = _failure(row)
    return escape(row["current_stage"]) + (
        Markup('<div class="text-danger-emphasis">%s</div>') % failed if failed else ""
    )


QUEUE = wq.Queue(
    area="processing",
    tables={name: (title, action) for name, title, action in queries.QUEUE_TABLES},
    queries=queries,
    columns=(
        wq.SUBMITTED,
        wq.REQUEST,
        wq.Column("Sample", "sample", "sample_name", "sample_name"),
        wq.OWNER,
        wq.Column("Imaging request", "imaging_request", "imaging_request_number", "imaging_request"),
        wq.Column("Processing request", "processing_request", "processing_request_number", "processing_request"),
        wq.Column("Microscope", "microscope", "microscopes", "microscope", "blank"),
        wq.Column("Resolutions", "resolutions", "resolutions", "resolutions", "blank"),
        wq.Column(
            "Progress",
            "progress",
            "processing_progress",
            "progress",
            "own",
            labels=PROCESSING_PROGRESS_LABELS,
            render=_progress,
        ),
        wq.Column(
            "Current stage",
            None,
            "current_stage",
            "current_stage",
            "own",
            ("running", "attention"),
            testid="current-stage",
            css="small",
            render=_stage,
        ),
        wq.Column("", None, "failure_summary", "failure_summary", value=_failure),
        wq.person("Processor", "processor"),
        wq.SPECIES,
        wq.completed("processed"),
    ),  # fmt: skip
    own_note="You see the processing requests of requests you may view.",
    key=tuple((field, field) for field in queries.PR_KEY),  # the routes name their arguments as the fields
    links={
        "ready": "processing.entry_form",
        "flatfield": "processing.entry_form#flatfield",
        "attention": "processing.processing_log",
        "running": "processing.processing_log",
        "processed": "processing.processing_log",
    },
    key_attr="pr",
    nouns=("processing request", "processing requests"),
    shown_when_empty=("ready",),
    list_table=lambda table, viewer, sees_all, _filter, page: queries.list_queue(table, viewer, sees_all, page),
    sees_all=lambda user: bool(roles_of(user) & STAFF_ROLES),  # staff; others: the requests they may view
)
wq.add_queue_routes(bp, QUEUE, login_required)
