"""The derived request status, defined once: as SQL over aggregated counts, so lists can
filter and sort by it in MariaDB, and in Python for one row already fetched.

The counts of one request (names are the SQL column aliases every query uses):

| count | meaning |
|---|---|
| `samples` | number of samples |
| `cleared` | sum of `number_in_batch` over complete clearing batches |
| `clearing_started` | clearing batches that have left `pending` |
| `imaged` / `imaging_total` | imaging requests `complete` or `skipped` / all imaging requests |
| `processed` / `processing_total` | processing requests `complete` / all processing requests |
| `processing_failed` | processing requests `failed` |
| `layers_failed` | precomputed layers (`DataLayer`) with status `failed` |

Rule, first match wins: any failed processing request or failed layer → "Needs attention" (a failure
needs someone even when every fraction is full); all three fractions full (0/0 counts as full) →
"Complete"; any clearing batch started → "In progress"; otherwise "Pending".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

COUNT_COLUMNS = (
    "samples",
    "cleared",
    "clearing_started",
    "imaged",
    "imaging_total",
    "processed",
    "processing_total",
    "processing_failed",
    "layers_failed",
)


@dataclass(frozen=True)
class Status:
    key: str  # stored nowhere; used in URLs (?status=) and CSS (status-<key>)
    label: str
    rank: int  # sort order: pending < in progress < needs attention < complete
    colour: str  # row colour of the status (the CSS classes hold the same values)

    @property
    def css_class(self) -> str:
        return f"status-{self.key}"


PENDING = Status("pending", "Pending", 1, "#FCA5A4")
PROGRESS = Status("progress", "In progress", 2, "#A4FCFA")
ATTENTION = Status("attention", "Needs attention", 3, "#FCD9A4")
COMPLETE = Status("complete", "Complete", 4, "#A4FCAC")

#: in legend order
STATUSES: dict[str, Status] = {s.key: s for s in (PENDING, PROGRESS, ATTENTION, COMPLETE)}


def _col(prefix: str, name: str) -> str:
    return f"{prefix}{name}"


def _full(prefix: str, done: str, total: str) -> str:
    return f"{_col(prefix, done)} >= {_col(prefix, total)}"


def _conditions(prefix: str) -> list[tuple[str, Status]]:
    c = lambda name: _col(prefix, name)  # noqa: E731
    return [
        (f"({c('processing_failed')} > 0 OR {c('layers_failed')} > 0)", ATTENTION),
        (
            f"({_full(prefix, 'cleared', 'samples')} AND {_full(prefix, 'imaged', 'imaging_total')} "
            f"AND {_full(prefix, 'processed', 'processing_total')})",
            COMPLETE,
        ),
        (f"{c('clearing_started')} > 0", PROGRESS),
    ]


def status_key_sql(prefix: str = "") -> str:
    """SQL expression giving the status key ('pending', 'progress', 'attention', 'complete') from the
    count columns, each named `<prefix><count>` (prefix is a trusted table alias such as `q.`)."""
    whens = " ".join(f"WHEN {cond} THEN '{status.key}'" for cond, status in _conditions(prefix))
    return f"(CASE {whens} ELSE '{PENDING.key}' END)"


def status_rank_sql(prefix: str = "") -> str:
    """SQL expression giving the status rank (for ORDER BY)."""
    whens = " ".join(f"WHEN {cond} THEN {status.rank}" for cond, status in _conditions(prefix))
    return f"(CASE {whens} ELSE {PENDING.rank} END)"


def ratio_sql(done: str, total: str) -> str:
    """SQL sort key of a fraction `done/total`; 0/0 sorts as full (it counts as complete)."""
    return f"COALESCE({done} / NULLIF({total}, 0), 1)"


def derive_status(counts: Mapping[str, int]) -> Status:
    """The status of one request from its counts (same rule as :func:`status_key_sql`)."""
    n = {name: int(counts.get(name) or 0) for name in COUNT_COLUMNS}
    if n["processing_failed"] > 0 or n["layers_failed"] > 0:
        return ATTENTION
    if n["cleared"] >= n["samples"] and n["imaged"] >= n["imaging_total"] and n["processed"] >= n["processing_total"]:
        return COMPLETE
    if n["clearing_started"] > 0:
        return PROGRESS
    return PENDING


def fraction(done: int | None, total: int | None) -> str:
    """`a/b` as shown in the lists."""
    return f"{int(done or 0)}/{int(total or 0)}"


#: display labels of per-entity progress values shown in lists and on the overview
IMAGING_PROGRESS_LABELS = {"pending": "Pending", "complete": "Complete", "skipped": "Skipped"}
PROCESSING_PROGRESS_LABELS = {"pending": "Pending", "running": "Running", "complete": "Complete", "failed": "Failed"}
