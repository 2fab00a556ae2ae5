"""Reads about requests. Visibility, filters, paging and sorting happen in MariaDB, never per row in Python.

The request and sample lists are one SQL statement per page plus their row count, run
through the DataJoint connection with parameters: user input is never formatted into SQL, and table
names come from the activated schemas. The counts behind the fractions and the derived status
(lightserv.common.status) are defined once (lightserv.requests.status_store): the request list reads them
from the `request_status` table the triggers keep, so sorting or filtering by them costs no aggregation;
the overview counts its one request's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from lightserv.common.keyed_page import KeyedSource, all_of, keyed_page
from lightserv.common.pagination import Page, PageRequest
from lightserv.common.permissions import STAFF_ROLES
from lightserv.common.sql import contains_any
from lightserv.common.sql import query as _query
from lightserv.common.status import COUNT_COLUMNS, STATUSES, derive_status, ratio_sql
from lightserv.db import get_schemas
from lightserv.requests import status_store

from .samples import SAMPLE_KEY, attach_imaging, key_condition

#: sort key (?sort=) -> SQL over the request `r` and its stored counts `c` (lightserv.requests.status_store)
REQUEST_SORTS: dict[str, str] = {
    "submitted_at": "r.submitted_at",
    "username": "r.username",
    "request_name": "r.request_name",
    "species": "CAST(r.species AS CHAR)",
    "is_archival": "r.is_archival",
    "number_of_samples": "r.number_of_samples",
    "cleared": ratio_sql("c.cleared", "c.samples"),
    "imaged": ratio_sql("c.imaged", "c.imaging_total"),
    "processed": ratio_sql("c.processed", "c.processing_total"),
    "status": "c.status_rank",
}
#: sort key -> (SQL, True when it needs the clearing batch of every sample before sorting)
SAMPLE_SORTS: dict[str, tuple[str, bool]] = {
    "sample_name": ("{p}sample_name", False),
    "request_name": ("{p}request_name", False),
    "username": ("{p}username", False),
    "is_archival": ("{p}is_archival", False),
    "species": ("CAST({p}species AS CHAR)", False),
    "protocol": ("{p}protocol_label", True),
    "clearer": ("{p}clearer", True),
    "clearing_progress": ("{p}clearing_progress", True),
    "submitted_at": ("{p}submitted_at", False),
}
REQUEST_TIEBREAK = ("username", "request_name")
SAMPLE_TIEBREAK = ("request_name", "sample_name", "username")


@dataclass(frozen=True)
class ListFilter:
    """Filters of the request and sample lists; the view has already validated every value."""

    status: str = ""  # a key of lightserv.common.status.STATUSES (request list only)
    species: str = ""
    owner: str = ""  # staff only
    search: str = ""  # request name and description (requests), sample and request name (samples)
    include_testing: bool = True
    only_mine: bool = False  # staff: restrict to requests they own or are named on


def visible_requests(viewer: str, roles: frozenset[str]):
    """The DataJoint expression of the requests `viewer` may see."""
    ls = get_schemas().lightsheet
    if roles & STAFF_ROLES:
        return ls.Request()
    shared = (ls.Request.Access & {"grantee": viewer}).proj(shared_by="grantee")
    return ls.Request & [{"username": viewer}, shared]


# --------------------------------------------------------------------------------------------------
# SQL building blocks
# --------------------------------------------------------------------------------------------------


def tables() -> SimpleNamespace:
    """The full names of the request tables (and the stored status counts), for SQL text."""
    ls = get_schemas().lightsheet
    r = ls.Request
    return SimpleNamespace(
        request=r.full_table_name,
        access=r.Access.full_table_name,
        sample=r.Sample.full_table_name,
        batch=r.ClearingBatch.full_table_name,
        batch_sample=r.ClearingBatchSample.full_table_name,
        imaging=r.ImagingRequest.full_table_name,
        imaging_batch=r.ImagingBatch.full_table_name,
        imaging_batch_sample=r.ImagingBatchSample.full_table_name,
        resolution=r.ImagingResolutionRequest.full_table_name,
        processing=r.ProcessingRequest.full_table_name,
        layer=r.DataLayer.full_table_name,
        protocol=ls.ClearingProtocol.full_table_name,
        status=r.full_table_name.rsplit(".", 1)[0] + f".`{status_store.TABLE}`",
    )


#: every count of lightserv.common.status.COUNT_COLUMNS but `samples`: (part table, SQL aggregate, row filter)
COUNT_DEFINITIONS = {
    name: (source, f"SUM({sql.format(r='')})", "")
    for source, counts in status_store.CONTRIBUTIONS.items()
    for name, sql in counts.items()
}


def _visible(viewer: str, roles: frozenset[str], flt: ListFilter, t: SimpleNamespace, alias="r") -> tuple[str, list]:
    """A JOIN restricting rows `alias` to the requests the viewer owns or is named on ('' when they see all)."""
    if roles & STAFF_ROLES and not flt.only_mine:
        return "", []
    keys = (
        f"SELECT username, request_name FROM {t.request} WHERE username = %s"
        f" UNION SELECT username, request_name FROM {t.access} WHERE grantee = %s"
    )
    on = f"v.username = {alias}.username AND v.request_name = {alias}.request_name"
    return f" JOIN ({keys}) v ON {on}", [viewer, viewer]


def _where(flt: ListFilter, search_columns: tuple[str, ...], owner_column: str = "r.username") -> tuple[str, list]:
    conditions, args = [], []
    if not flt.include_testing:
        conditions.append("r.testing = 0")
    if flt.species:
        conditions.append("r.species = %s")
        args.append(flt.species)
    if flt.owner:
        conditions.append(f"{owner_column} = %s")
        args.append(flt.owner)
    if flt.search:
        condition, patterns = contains_any(search_columns, flt.search)
        conditions.append(condition)
        args.extend(patterns)
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), args


def _order(sorts: dict, tiebreak: tuple[str, ...], page: PageRequest, p: str) -> str:
    direction = page.direction.upper()
    first = sorts[page.sort][0].format(p=p)
    rest = [f"{p}{c} {direction}" for c in tiebreak if f"{{p}}{c}" != sorts[page.sort][0]]
    return ", ".join([f"{first} {direction}", *rest])


def _as_counts(row: dict) -> dict:
    for name in COUNT_COLUMNS:
        row[name] = int(row.get(name) or 0)
    return row


# --------------------------------------------------------------------------------------------------
# Request list
# --------------------------------------------------------------------------------------------------

_REQUEST_COLUMNS = (
    "r.username, r.request_name, r.submitted_at, r.description, r.species, r.is_archival, r.testing,"
    " r.number_of_samples AS samples, " + ", ".join(f"c.{name}" for name in status_store.COUNTED)
)


def list_requests(viewer: str, roles: frozenset[str], page: PageRequest, flt: ListFilter | None = None) -> Page:
    """One page of the requests `viewer` may see, with counts, status and the viewer's relation. The counts
    come from `request_status`, so sorting or filtering by status or a fraction reads one row per request
    and aggregates nothing; the page's keys are sorted first (lightserv.common.keyed_page)."""
    flt = flt or ListFilter()
    t = tables()
    join, scope_args = _visible(viewer, roles, flt, t)
    filters, filter_args = _where(flt, ("r.request_name", "r.description"))
    counts = f" JOIN {t.status} c ON c.username = r.username AND c.request_name = r.request_name"
    where = all_of(
        (filters.removeprefix(" WHERE "), tuple(filter_args)) if filters else None,
        ("c.status_rank = %s", (STATUSES[flt.status].rank,)) if flt.status else None,
    )
    source = KeyedSource(
        table=t.request,
        key=REQUEST_TIEBREAK,
        where=(where[0], (*scope_args, *where[1])),
        columns=f"{_REQUEST_COLUMNS}, (SELECT a.access_level FROM {t.access} a WHERE a.username = r.username"
        " AND a.request_name = r.request_name AND a.grantee = %s) AS my_access",
        column_args=(viewer,),
        joins=counts,
        filter_joins=join + (counts if flt.status else ""),
        alias="r",
    )
    sort = REQUEST_SORTS[page.sort]
    by_counts = "c." in sort  # request_status's status_order index: (status_rank, username, request_name)
    result = keyed_page(
        source, sort, page, sort_joins=counts if by_counts and not flt.status else "", ties="c" if by_counts else None
    )
    for row in result.items:
        _as_counts(row)
        row["status"] = derive_status(row)
        row["relation"] = "owner" if row["username"] == viewer else row.pop("my_access")
    return result


def get_request_counts(owner: str, request_name: str) -> dict:
    """The counts (lightserv.common.status.COUNT_COLUMNS) of one request, from its rows."""
    t = tables()
    sql = (
        f"SELECT r.number_of_samples AS samples{status_store.live_counts_sql('r', vars(t))} FROM {t.request} r"
        " WHERE r.username = %s AND r.request_name = %s"
    )
    rows = _query(sql, [owner, request_name])
    return _as_counts(rows[0] if rows else {})


# --------------------------------------------------------------------------------------------------
# Sample list
# --------------------------------------------------------------------------------------------------


_SAMPLE_COLUMNS = "s.username, s.request_name, s.sample_name, r.is_archival, r.species, r.submitted_at, r.testing"
_BATCH_COLUMNS = (
    "cb.clearing_batch_number, cb.protocol, cp.label AS protocol_label, cp.has_step_form, cb.clearer,"
    " cb.clearing_progress, cb.link_to_clearing_spreadsheet"
)
#: the column a sample sort needs before sorting, beyond the sample key
_SAMPLE_SORT_COLUMN = {
    "is_archival": "r.is_archival",
    "species": "r.species",
    "submitted_at": "r.submitted_at",
    "protocol": "cp.label AS protocol_label",
    "clearer": "cb.clearer",
    "clearing_progress": "cb.clearing_progress",
}


def _batch_joins(alias: str, t: SimpleNamespace) -> str:
    """LEFT JOINs giving the clearing batch (and protocol) of the sample rows named `alias`."""
    return (
        f" LEFT JOIN {t.batch_sample} cbs ON cbs.username = {alias}.username"
        f" AND cbs.request_name = {alias}.request_name AND cbs.sample_name = {alias}.sample_name"
        f" LEFT JOIN {t.batch} cb ON cb.username = cbs.username AND cb.request_name = cbs.request_name"
        " AND cb.clearing_batch_number = cbs.clearing_batch_number"
        f" LEFT JOIN {t.protocol} cp ON cp.protocol = cb.protocol"
    )


def list_samples(viewer: str, roles: frozenset[str], page: PageRequest, flt: ListFilter | None = None) -> Page:
    """One page of the samples `viewer` may see (the page and its count), each with every imaging request and
    every processing request (a fixed number of queries for the whole page, see `attach_imaging`).

    Sorting and paging touch only what the sort and filters need (the sample table, plus the request or
    the clearing batch); the rest is joined to the page's 50 rows."""
    flt = flt or ListFilter()
    t = tables()
    join, scope_args = _visible(viewer, roles, flt, t, alias="s")
    where, where_args = _where(flt, ("s.sample_name", "s.request_name"), owner_column="s.username")
    sort_column = _SAMPLE_SORT_COLUMN.get(page.sort)
    needs_request = bool(flt.species) or not flt.include_testing or (sort_column or "").startswith("r.")
    request_join = f" JOIN {t.request} r ON r.username = s.username AND r.request_name = s.request_name"
    source = f" FROM {t.sample} s{request_join if needs_request else ''}{join}"
    keys = (
        f"SELECT s.username, s.request_name, s.sample_name{', ' + sort_column if sort_column else ''}"
        f"{source}{_batch_joins('s', t) if SAMPLE_SORTS[page.sort][1] else ''}{where}"
    )
    page_keys = (
        f"SELECT k.* FROM ({keys}) k ORDER BY {_order(SAMPLE_SORTS, SAMPLE_TIEBREAK, page, 'k.')} LIMIT %s OFFSET %s"
    )
    sql = (  # STRAIGHT_JOIN: the 50 keys first; left alone, MariaDB may scan every request for deep pages
        f"SELECT STRAIGHT_JOIN {_SAMPLE_COLUMNS}, {_BATCH_COLUMNS} FROM ({page_keys}) p"
        f" JOIN {t.sample} s ON s.username = p.username AND s.request_name = p.request_name"
        f" AND s.sample_name = p.sample_name{request_join}{_batch_joins('s', t)}"
        f" ORDER BY {_order(SAMPLE_SORTS, SAMPLE_TIEBREAK, page, 'p.')}"
    )
    args = scope_args + where_args
    rows = _query(sql, args + [page.per_page, page.offset])
    # a separate count is cheaper here than COUNT(*) OVER (), which would carry every sample through the sort
    total = int(_query(f"SELECT COUNT(*) AS n{source}{where}", args)[0]["n"])
    attach_imaging(rows, key_condition(rows, SAMPLE_KEY))
    return Page(items=rows, total=total, request=page)
