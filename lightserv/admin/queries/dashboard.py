"""Figures of the admin dashboard, each one SQL statement in MariaDB.

Requests flagged `testing` are left out everywhere. Definitions:

- queues: clearing batches, imaging batches and processing requests counted by state; an imaging batch
  is "ready" when it is pending and its clearing batch is complete, "waiting" while that clearing is not;
- microscope usage: imaged resolution requests (imaging request `complete`) per month of their imaging
  performed date (a facility-local date), LaVision vs SmartSPIM, this month and the six before;
- turnaround (p50 and p90, in days, over the stages completed in the last `TURNAROUND_DAYS`), each stage
  from the moment its work could start to the stored completion time:
  clearing: the batch's earliest expected hand-off (or the submission, if later) → clearing complete;
  imaging: clearing complete (or the imaging request, if later) → imaging batch complete;
  processing: imaging batch complete (or the processing request, if later) → processing complete;
  percentiles are PERCENTILE_CONT (linear interpolation), as numpy's default;
- storage: used and available TB of every successful daily snapshot of the last `STORAGE_DAYS` days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace

from lightserv.common.sql import query as _query
from lightserv.common.timefmt import to_local
from lightserv.db import get_schemas
from lightserv.requests.queries import tables
from schemas.enums import CLEARING_PROGRESS_LABELS, MICROSCOPE, MICROSCOPE_LABELS, PROCESSING_PROGRESS

MONTHS = 7  # the current month and the six before it
TURNAROUND_DAYS = 365
STORAGE_DAYS = 90
IMAGING_STATES = {
    "waiting": "Waiting for clearing",
    "ready": "Ready to image",
    "in_progress": "Being imaged",
    "complete": "Imaged",
}
PROCESSING_LABELS = {"pending": "Pending", "running": "Running", "complete": "Complete", "failed": "Failed"}
STAGES = {"clearing": "Clearing", "imaging": "Imaging", "processing": "Processing"}


@dataclass(frozen=True)
class Figure:
    """One chart's data: a title, column headers and rows (the first column names the row)."""

    name: str
    title: str
    columns: list[str]
    rows: list[list]
    unit: str = ""
    note: str = ""


def _t() -> SimpleNamespace:
    return SimpleNamespace(**vars(tables()), snapshot=get_schemas().facility.StorageSnapshot.full_table_name)


def _on(a: str, b: str, *columns: str) -> str:
    return " AND ".join(f"{a}.{c} = {b}.{c}" for c in ("username", "request_name", *columns))


def _counted(name: str, title: str, labels: dict[str, str], rows: list[dict]) -> Figure:
    found = {r["state"]: int(r["n"]) for r in rows}
    return Figure(name, title, ["State", "Count"], [[label, found.get(key, 0)] for key, label in labels.items()])


def clearing_queue() -> Figure:
    t = _t()
    rows = _query(
        f"SELECT cb.clearing_progress AS state, COUNT(*) AS n FROM {t.batch} cb"
        f" JOIN {t.request} r ON {_on('r', 'cb')} WHERE r.testing = 0 GROUP BY cb.clearing_progress"
    )
    return _counted("clearing", "Clearing batches by state", dict(CLEARING_PROGRESS_LABELS), rows)


def imaging_queue() -> Figure:
    t = _t()
    state = (
        "CASE WHEN ib.imaging_progress = 'pending' AND cb.clearing_progress = 'complete' THEN 'ready'"
        " WHEN ib.imaging_progress = 'pending' THEN 'waiting' ELSE CAST(ib.imaging_progress AS CHAR) END"
    )
    rows = _query(
        f"SELECT {state} AS state, COUNT(*) AS n FROM {t.imaging_batch} ib"
        f" JOIN {t.batch} cb ON {_on('cb', 'ib', 'clearing_batch_number')}"
        f" JOIN {t.request} r ON {_on('r', 'ib')} WHERE r.testing = 0 GROUP BY 1"
    )
    return _counted("imaging", "Imaging batches by state", IMAGING_STATES, rows)


def processing_queue() -> Figure:
    t = _t()
    rows = _query(
        f"SELECT pr.processing_progress AS state, COUNT(*) AS n FROM {t.processing} pr"
        f" JOIN {t.request} r ON {_on('r', 'pr')} WHERE r.testing = 0 GROUP BY pr.processing_progress"
    )
    labels = {p: PROCESSING_LABELS.get(p, p) for p in PROCESSING_PROGRESS}
    return _counted("processing", "Processing requests by state", labels, rows)


def month_starts(today: dt.date, months: int = MONTHS) -> list[dt.date]:
    """First days of the `months` months ending with the month of `today`, oldest first."""
    starts, year, month = [], today.year, today.month
    for _ in range(months):
        starts.append(dt.date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def microscope_usage(today: dt.date) -> Figure:
    t = _t()
    starts = month_starts(today)
    end = dt.date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    rows = _query(
        f"SELECT EXTRACT(YEAR_MONTH FROM ir.imaging_performed_date) AS ym, irr.microscope AS microscope,"
        f" COUNT(*) AS n FROM {t.resolution} irr"
        f" JOIN {t.imaging} ir ON {_on('ir', 'irr', 'sample_name', 'imaging_request_number')}"
        f" JOIN {t.request} r ON {_on('r', 'irr')}"
        " WHERE r.testing = 0 AND ir.imaging_progress = 'complete'"
        " AND ir.imaging_performed_date >= %s AND ir.imaging_performed_date < %s GROUP BY 1, 2",
        (starts[0], end),
    )
    found = {(int(r["ym"]), r["microscope"]): int(r["n"]) for r in rows}
    table = [[f"{s:%Y-%m}", *(found.get((s.year * 100 + s.month, m), 0) for m in MICROSCOPE)] for s in starts]
    return Figure(
        "microscopes",
        "Microscope usage: imaged resolution requests per month",
        ["Month", *(MICROSCOPE_LABELS[m] for m in MICROSCOPE)],
        table,
        note="Counted by imaging performed date; the current month is partial.",
    )


def _percentiles(durations_sql: str, since: dt.datetime) -> tuple[int, float | None, float | None]:
    rows = _query(
        "SELECT COUNT(*) OVER () AS n,"
        " PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY d) OVER () AS p50,"
        " PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY d) OVER () AS p90"
        f" FROM ({durations_sql}) durations LIMIT 1",
        (since,),
    )
    if not rows:
        return 0, None, None
    return int(rows[0]["n"]), float(rows[0]["p50"]), float(rows[0]["p90"])


def _days(start: str, end: str) -> str:
    return f"GREATEST(0, TIMESTAMPDIFF(SECOND, {start}, {end})) / 86400"


def turnaround(now: dt.datetime) -> Figure:
    t = _t()
    since = now - dt.timedelta(days=TURNAROUND_DAYS)
    handoff = (
        f"SELECT cbs.username, cbs.request_name, cbs.clearing_batch_number,"
        f" MIN(s.expected_handoff_date) AS earliest FROM {t.batch_sample} cbs"
        f" JOIN {t.sample} s ON {_on('s', 'cbs', 'sample_name')} GROUP BY 1, 2, 3"
    )
    clearing_start = "GREATEST(r.submitted_at, COALESCE(CAST(h.earliest AS DATETIME), r.submitted_at))"
    sql = {
        "clearing": (
            f"SELECT {_days(clearing_start, 'cb.completed_at')} AS d FROM {t.batch} cb"
            f" JOIN {t.request} r ON {_on('r', 'cb')}"
            f" LEFT JOIN ({handoff}) h ON {_on('h', 'cb', 'clearing_batch_number')}"
            " WHERE r.testing = 0 AND cb.clearing_progress = 'complete' AND cb.completed_at >= %s"
        ),
        "imaging": (
            f"SELECT {_days('GREATEST(cb.completed_at, ib.submitted_at)', 'ib.completed_at')} AS d"
            f" FROM {t.imaging_batch} ib JOIN {t.batch} cb ON {_on('cb', 'ib', 'clearing_batch_number')}"
            f" JOIN {t.request} r ON {_on('r', 'ib')}"
            " WHERE r.testing = 0 AND ib.imaging_progress = 'complete' AND ib.completed_at >= %s"
            " AND cb.completed_at IS NOT NULL"
        ),
        "processing": (
            f"SELECT {_days('GREATEST(ib.completed_at, pr.submitted_at)', 'pr.completed_at')} AS d"
            f" FROM {t.processing} pr"
            f" JOIN {t.imaging_batch_sample} ibs ON {_on('ibs', 'pr', 'sample_name', 'imaging_request_number')}"
            f" JOIN {t.imaging_batch} ib"
            f" ON {_on('ib', 'ibs', 'clearing_batch_number', 'imaging_request_number', 'imaging_batch_number')}"
            f" JOIN {t.request} r ON {_on('r', 'pr')}"
            " WHERE r.testing = 0 AND pr.processing_progress = 'complete' AND pr.completed_at >= %s"
            " AND ib.completed_at IS NOT NULL"
        ),
    }
    rows = []
    for stage, label in STAGES.items():
        n, p50, p90 = _percentiles(sql[stage], since)
        rows.append([label, None if p50 is None else round(p50, 1), None if p90 is None else round(p90, 1), n])
    return Figure(
        "turnaround",
        f"Turnaround per stage (days, completed in the last {TURNAROUND_DAYS} days)",
        ["Stage", "p50 (days)", "p90 (days)", "Completed"],
        rows,
        unit="days",
        note=(
            "Clearing: expected hand-off (or submission, if later) to clearing complete. Imaging: clearing "
            "complete (or the imaging request, if later) to imaging batch complete. Processing: imaging "
            "complete (or the processing request, if later) to processing complete."
        ),
    )


def storage_history(now: dt.datetime, timezone: str) -> Figure:
    t = _t()
    rows = _query(
        f"SELECT taken_at, used_tb, avail_tb, size_tb FROM {t.snapshot}"
        " WHERE status <> 'error' AND taken_at >= %s ORDER BY taken_at, filesystem",
        (now - dt.timedelta(days=STORAGE_DAYS),),
    )
    table = [
        [
            f"{to_local(r['taken_at'], timezone):%Y-%m-%d %H:%M}",
            round(float(r["used_tb"]), 2),
            round(float(r["avail_tb"]), 2),
        ]
        for r in rows
    ]
    return Figure(
        "storage",
        f"Storage: used and available TB per daily check (last {STORAGE_DAYS} days)",
        ["Checked (facility time)", "Used (TB)", "Available (TB)"],
        table,
        unit="TB",
    )


FIGURES = ("clearing", "imaging", "processing", "microscopes", "turnaround", "storage")


def build(name: str, now: dt.datetime, timezone: str) -> Figure:
    """One figure by name (see FIGURES); `now` is UTC."""
    today = to_local(now, timezone).date()
    builders = {
        "clearing": clearing_queue,
        "imaging": imaging_queue,
        "processing": processing_queue,
        "microscopes": lambda: microscope_usage(today),
        "turnaround": lambda: turnaround(now),
        "storage": lambda: storage_history(now, timezone),
    }
    return builders[name]()
