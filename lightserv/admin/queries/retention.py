"""The retention report's lists (lightserv.admin.retention): raw data of completed requests past the chosen
age, and superseded pipeline outputs; each filtered, sorted and paged in SQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace

from lightserv.common.audit import utcnow
from lightserv.common.pagination import Page, PageRequest
from lightserv.common.sql import query as _query
from lightserv.common.status import status_key_sql
from lightserv.db import get_schemas
from lightserv.requests.queries import COUNT_DEFINITIONS, tables
from schemas.enums import RETENTION_PREFERENCE, RETENTION_PREFERENCE_LABELS

VIEWS = ("raw", "superseded")
DEFAULT_AGE_DAYS = 365
MAX_AGE_DAYS = 36500
#: least important first: the order in which raw data would be deleted
PREFERENCE_ORDER = ("not_important", "not_sure", "kind_of_important", "important")
_FIELD = "FIELD(q.preference, " + ", ".join(f"'{p}'" for p in PREFERENCE_ORDER) + ")"

RAW_SORTS = {
    "preference": _FIELD,
    "finished": "q.finished_at",
    "owner": "q.username",
    "request": "q.request_name",
    "submitted": "q.submitted_at",
    "samples": "q.samples",
}
SUPERSEDED_SORTS = {
    "superseded": "o.superseded_at",
    "owner": "o.username",
    "request": "o.request_name",
    "run": "o.run_id",
}


# --- filters --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionFilter:
    view: str = "raw"
    age_days: int = DEFAULT_AGE_DAYS  # raw: finished more than this many days ago
    preference: str = ""  # raw: one retention preference, or all
    owner: str = ""
    include_testing: bool = False
    show_all: bool = False  # superseded: every superseded run, not only those past the retention period
    age_error: str = ""  # why the age given was not used (shown next to the field)

    @classmethod
    def from_args(cls, args) -> RetentionFilter:
        view = args.get("view", "raw")
        preference = args.get("preference", "")
        raw_age = args.get("age", "").strip()
        age, error = DEFAULT_AGE_DAYS, ""
        if raw_age:
            try:
                age = int(raw_age)
            except ValueError:
                age = -1
            if not 0 <= age <= MAX_AGE_DAYS:
                age, error = DEFAULT_AGE_DAYS, f"Enter a whole number of days from 0 to {MAX_AGE_DAYS}."
        return cls(
            view=view if view in VIEWS else "raw",
            age_days=age,
            preference=preference if preference in RETENTION_PREFERENCE else "",
            owner=args.get("owner", "").strip()[:32],
            include_testing=args.get("testing") == "1",
            show_all=args.get("show") == "all",
            age_error=error,
        )

    def args(self, **change) -> dict[str, str]:
        """Query arguments that reproduce this filter (for links and the CSV)."""
        values = {"view": self.view, "age": str(self.age_days), "preference": self.preference, "owner": self.owner,
                  "testing": "1" if self.include_testing else "", "show": "all" if self.show_all else ""}  # fmt: skip
        values.update(change)
        return {k: v for k, v in values.items() if v}


# --- SQL ------------------------------------------------------------------------------------------------


def _tables() -> SimpleNamespace:
    return SimpleNamespace(**vars(tables()), run=get_schemas().jobs.PipelineRun.full_table_name)


#: when each part table's work last finished (the request's "finished" time is the latest of them)
_FINISHED = {
    "batch": "MAX(completed_at)",
    "imaging": "TIMESTAMP(MAX(imaging_performed_date))",
    "processing": "MAX(completed_at)",
}


def _raw_base(flt: RetentionFilter, t: SimpleNamespace, with_preference: bool = True) -> tuple[str, list]:
    """Completed requests finished before the cutoff: one row each, columns of `RAW_SORTS`."""
    columns, joins = "", ""
    for source in ("batch", "imaging", "processing", "layer"):
        names = [n for n, (table, _, _) in COUNT_DEFINITIONS.items() if table == source]
        where = {COUNT_DEFINITIONS[n][2] for n in names} - {""}
        aggregates = [f"{COUNT_DEFINITIONS[n][1]} AS {n}" for n in names]
        if source in _FINISHED:
            aggregates.append(f"{_FINISHED[source]} AS done")
            columns += f", g_{source}.done AS {source}_done"
        grouped = (
            f"SELECT username, request_name, {', '.join(aggregates)} FROM {getattr(t, source)}"
            f"{' WHERE ' + ' AND '.join(where) if where else ''} GROUP BY username, request_name"
        )
        joins += (f" LEFT JOIN ({grouped}) g_{source} ON g_{source}.username = r.username"
                  f" AND g_{source}.request_name = r.request_name")  # fmt: skip
        columns += "".join(f", COALESCE(g_{source}.{n}, 0) AS {n}" for n in names)
    conditions, args = [], []
    if not flt.include_testing:
        conditions.append("r.testing = 0")
    if with_preference and flt.preference:
        conditions.append("r.raw_data_retention_preference = %s")
        args.append(flt.preference)
    if flt.owner:
        conditions.append("r.username = %s")
        args.append(flt.owner)
    inner = (
        "SELECT r.username, r.request_name, r.submitted_at, CAST(r.species AS CHAR) AS species, r.is_archival,"
        " r.testing, CAST(r.raw_data_retention_preference AS CHAR) AS preference, r.number_of_samples AS samples"
        f"{columns} FROM {t.request} r{joins}" + (" WHERE " + " AND ".join(conditions) if conditions else "")
    )
    finished = "GREATEST(" + ", ".join(f"COALESCE(c.{s}_done, c.submitted_at)" for s in _FINISHED) + ")"
    cutoff = utcnow() - dt.timedelta(days=flt.age_days)
    base = (
        f"SELECT q.* FROM (SELECT c.*, {finished} AS finished_at FROM ({inner}) c) q"
        f" WHERE {status_key_sql('q.')} = 'complete' AND q.finished_at < %s"
    )
    return base, [*args, cutoff]


def list_raw(flt: RetentionFilter, page: PageRequest) -> Page:
    """One page of completed requests past the chosen age (sorted and paged in SQL)."""
    t = _tables()
    base, args = _raw_base(flt, t)
    direction = page.direction.upper()
    order = ", ".join(
        [f"{RAW_SORTS[page.sort]} {direction}"]
        + [
            f"q.{c} {direction}"
            for c in ("finished_at", "username", "request_name")
            if f"q.{c}" != RAW_SORTS[page.sort]
        ]
    )
    rows = _query(
        f"SELECT q.*, COUNT(*) OVER () AS total_rows FROM ({base}) q ORDER BY {order} LIMIT %s OFFSET %s",
        [*args, page.per_page, page.offset],
    )
    total = int(rows[0]["total_rows"]) if rows else _count(base, args, page)
    for row in rows:
        row["preference_label"] = RETENTION_PREFERENCE_LABELS.get(row["preference"], row["preference"])
    return Page(items=rows, total=total, request=page)


def _count(base: str, args: list, page: PageRequest) -> int:
    if page.page == 1:
        return 0
    return int(_query(f"SELECT COUNT(*) AS n FROM ({base}) q", args)[0]["n"])


def raw_summary(flt: RetentionFilter) -> list[dict]:
    """Requests and samples past the age per retention preference (every preference, least important
    first), for the filter without its preference."""
    base, args = _raw_base(flt, _tables(), with_preference=False)
    counts = {
        r["preference"]: r
        for r in _query(
            "SELECT q.preference, COUNT(*) AS requests, SUM(q.samples) AS samples"
            f" FROM ({base}) q GROUP BY q.preference",
            args,
        )
    }
    return [
        {
            "preference": p,
            "label": RETENTION_PREFERENCE_LABELS[p],
            "requests": int((counts.get(p) or {}).get("requests") or 0),
            "samples": int((counts.get(p) or {}).get("samples") or 0),
        }
        for p in PREFERENCE_ORDER
    ]


def _superseded_base(flt: RetentionFilter, t: SimpleNamespace, retention_days: int) -> tuple[str, list]:
    conditions, args = ["o.superseded_by_run_id IS NOT NULL"], []
    if not flt.include_testing:
        conditions.append("r.testing = 0")
    if flt.owner:
        conditions.append("o.username = %s")
        args.append(flt.owner)
    if not flt.show_all:
        conditions.append("n.created_at < %s")
        args.append(utcnow() - dt.timedelta(days=retention_days))
    base = (
        "SELECT o.run_id, CAST(o.kind AS CHAR) AS kind, o.username, o.request_name, o.sample_name,"
        " o.imaging_request_number, o.processing_request_number, CAST(o.image_resolution AS CHAR) AS image_resolution,"
        " o.ventral_up, o.attempt, o.output_dir, o.superseded_by_run_id, n.created_at AS superseded_at,"
        " n.created_by AS superseded_by"
        f" FROM {t.run} o JOIN {t.run} n ON n.run_id = o.superseded_by_run_id"
        f" JOIN {t.request} r ON r.username = o.username AND r.request_name = o.request_name"
        f" WHERE {' AND '.join(conditions)}"
    )
    return base, args


def list_superseded(flt: RetentionFilter, page: PageRequest, retention_days: int) -> Page:
    """One page of superseded runs (past the retention period unless `flt.show_all`), sorted and paged in SQL."""
    base, args = _superseded_base(flt, _tables(), retention_days)
    direction = page.direction.upper()
    column = SUPERSEDED_SORTS[page.sort]
    order = ", ".join([f"{column} {direction}"] + ([f"o.run_id {direction}"] if column != "o.run_id" else []))
    rows = _query(
        f"SELECT o.*, COUNT(*) OVER () AS total_rows FROM ({base}) o ORDER BY {order} LIMIT %s OFFSET %s",
        [*args, page.per_page, page.offset],
    )
    total = int(rows[0]["total_rows"]) if rows else _count(base, args, page)
    return Page(items=rows, total=total, request=page)
