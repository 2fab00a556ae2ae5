"""The staff queues of clearing, imaging and processing: one page and one CSV export for all three.

A team declares its queue as data (`Queue`): its tables, its columns, its filter and the query that lists one
table; sorting and paging happen in that query, in SQL. One column list serves the page and the CSV, so both
show the same values in the same order. A queue row's colour is the state of its table, as in the lists.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_login import current_user
from markupsafe import Markup, escape

from lightserv.common.csvexport import csv_response, pages
from lightserv.common.pagination import Page, PageRequest, parse_page_request
from lightserv.common.permissions import can
from lightserv.common.timefmt import format_date, format_datetime
from lightserv.common.urls import url_builder

PER_PAGE = 50


@dataclass(frozen=True)
class QueueFilter:
    """Filters every batch queue has: only the viewer's batches, one owner, only batches nobody holds.
    A team adds its own choice as one more field (a protocol, a microscope)."""

    only_mine: bool = False
    owner: str = ""
    unassigned: bool = False  # the home page's work waiting to be claimed

    def args(self) -> dict[str, str]:
        """The query arguments of the filters in use (the CSV link carries them)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        chosen = {name: value for name, value in values.items() if isinstance(value, str) and value}
        return {**chosen, "mine": "1"} if self.only_mine else chosen


#: the colour of a queue table's rows: the state of the work in it, in the lists' status colours
TABLE_STATES = {
    **dict.fromkeys(("pending", "ready", "waiting"), "pending"),
    **dict.fromkeys(("in_progress", "running", "flatfield"), "progress"),
    "attention": "attention",
    **dict.fromkeys(("complete", "processed"), "complete"),
}


@dataclass(frozen=True)
class Column:
    """One column of a queue: its heading on the page (empty: CSV only), its `?sort=` key (None: not
    sortable), the row's field, its CSV heading (empty: page only), how the page shows it, the tables that
    show it (empty: all), and words for stored values (`labels`) or a CSV value of its own (`value`).

    `shows`: text, blank (nothing when empty), dash (— when empty), time, date, person (Not assigned when
    empty), label (the words of `labels`), request (the request's link and follow-up badge) or own (`render(table,
    row)` gives the cell: text, or Markup for HTML)."""

    label: str
    sort: str | None
    field: str
    csv: str = ""
    shows: str = "text"
    tables: tuple[str, ...] = ()
    labels: Mapping[str, str] | None = None
    value: Callable[[dict], Any] | None = None
    testid: str = ""
    css: str = ""
    render: Callable[[str, dict], Any] | None = None

    @functools.cached_property
    def td(self) -> Markup:
        """The cell's opening tag on the page."""
        testid = Markup(' data-testid="{}"').format(self.testid) if self.testid else ""
        css = Markup(' class="{}"').format(self.css) if self.css else ""
        return Markup("<td{}{}>").format(testid, css)

    def csv_value(self, row: dict) -> Any:
        if self.value is not None:
            return self.value(row)
        value = row.get(self.field)
        return self.labels.get(value, value) if self.labels is not None else value


#: columns every queue has
SUBMITTED = Column("Submitted", "submitted", "submitted_at", "submitted_at_utc", "time")
REQUEST = Column("Request name", "request", "request_name", "request_name", "request")
OWNER = Column("Owner", "owner", "username", "owner")
SPECIES = Column("Species", "species", "species", "species")


def completed(table: str) -> Column:
    """When the work was finished, shown in the `table` of finished work."""
    return Column("Completed", "completed", "completed_at", "completed_at_utc", "time", tables=(table,))


def person(label: str, field: str, **kwargs) -> Column:
    """Who holds the work (sortable by `field`; the CSV heading is `field` too)."""
    return Column(label, field, field, field, "person", **kwargs)


#: a filter's select: its name, label, the no-choice option's words and its (value, words) options
Choice = tuple[str, str, str, list[tuple[str, str]]]


@dataclass(frozen=True)
class Queue:
    """One team's queue.

    `queries`: the team's queries module: `QUEUE_SORTS` (`?sort=` keys), `QUEUE_DEFAULT_SORT` (per table),
    `list_queue(table, viewer, sees_all, filter, page)` (one table, sorted and paged in SQL) unless
    `list_table` stands for it, and `list_batch_owners(viewer, sees_all)` for a queue with a filter.
    `filter`: the team's `QueueFilter` (None: no filter); `choice()`: its own select (a protocol, a
    microscope). `sees_all(user)`: the user sees every row, not only their own (default: the team's
    `open_queue` permission by role). `page_context(viewer, sees_all)`: further values of the page."""

    area: (
        str  # the blueprint: endpoints `<area>.queue`, `<area>.queue_csv`; after its tables `<area>/queue_legend.html`
    )
    tables: Mapping[str, tuple[str, str]]  # `?table=` name -> title, label of the rows' action link ("": none)
    columns: tuple[Column, ...]
    queries: Any
    own_note: str  # whose rows someone sees who does not see them all
    key: tuple[tuple[str, str], ...]  # a row's identity: URL argument -> field; its action link takes these
    links: Mapping[str, str]  # table -> the endpoint of its rows' action link, an `#anchor` may follow
    key_attr: str = "batch"  # the row carries its key as `data-<key_attr>="a/b/c"`
    row_fields: tuple[str, ...] = ()  # fields a row carries as data attributes before its key
    new_tab: bool = False  # action links open a new tab
    nouns: tuple[str, str] = ("batch", "batches")  # a row, rows
    shown_when_empty: tuple[str, ...] | None = None  # the tables shown while empty (None: all)
    filter: type[QueueFilter] | None = None
    choice: Callable[[], Choice] | None = None
    list_table: Callable[[str, str, bool, Any, PageRequest], Page] | None = None
    sees_all: Callable[[Any], bool] | None = None
    page_context: Callable[[str, bool], dict] = lambda viewer, sees_all: {}

    @property
    def title(self) -> str:
        return f"{self.area.capitalize()} queue"

    @property
    def own_note_id(self) -> str:
        return f"own-{self.nouns[1].split()[-1]}-note"

    def columns_of(self, table: str) -> list[Column]:
        return [c for c in self.columns if c.label and (not c.tables or table in c.tables)]

    def sees_everything(self, user) -> bool:
        return self.sees_all(user) if self.sees_all else can(user, f"{self.area}.open_queue")

    def read_filter(self) -> QueueFilter | None:
        """The page's filters from the query string; a choice that is not offered counts as no choice."""
        if self.filter is None:
            return None
        own = {}
        if self.choice is not None:
            name, _label, _all, options = self.choice()
            value = request.args.get(name, "")
            own[name] = value if value in {v for v, _text in options} else ""
        return self.filter(only_mine=request.args.get("mine") == "1", owner=request.args.get("owner", "")[:32], **own)

    def fetch(self, table: str, viewer: str, sees_all: bool, flt: QueueFilter | None) -> Callable[[PageRequest], Page]:
        """One table's pages for this viewer and filter."""
        list_table = self.list_table or self.queries.list_queue
        return functools.partial(list_table, table, viewer, sees_all, flt)

    def context(self, viewer: str, sees_all: bool) -> dict:
        """The page's values beyond its tables: the filter's selects and the team's own."""
        choices = [self.choice()] if self.choice else []
        if self.filter is not None:
            owners = self.queries.list_batch_owners(viewer, sees_all)
            choices.append(("owner", "Owner", "All owners", [(o, o) for o in owners]))
        return {"choices": choices, **self.page_context(viewer, sees_all)}


def render_queue(queue: Queue) -> str:
    """The queue page: every table (its rows coloured by `TABLE_STATES`) on its first page in its default order,
    except the table named by `?table=`, which takes the page's `?sort=`, `?direction=` and `?page=`."""
    viewer, sees_all, flt = current_user.get_id(), queue.sees_everything(current_user), queue.read_filter()
    active = request.args.get("table", "")
    rows = RowWriter(queue)
    tables = []
    for name, (title, action) in queue.tables.items():
        default = queue.queries.QUEUE_DEFAULT_SORT[name]
        first = (
            parse_page_request(queue.queries.QUEUE_SORTS, default, per_page=PER_PAGE)
            if name == active
            else PageRequest(page=1, per_page=PER_PAGE, sort=default, direction="desc")
        )
        page = queue.fetch(name, viewer, sees_all, flt)(first)
        if page.total or queue.shown_when_empty is None or name in queue.shown_when_empty:
            shown = {"name": name, "title": title, "action": action, "state": TABLE_STATES[name]}
            columns = queue.columns_of(name)
            tables.append({**shown, "page": page, "columns": columns, "rows": rows.write(name, columns, page.items)})
    context = {"queue": queue, "tables": tables, "flt": flt, "sees_all": sees_all, **queue.context(viewer, sees_all)}
    return render_template("workflow/queue.html", **context)


class RowWriter:
    """A queue table's rows for the page: each row's data attributes, the address of its action link and its
    cells (HTML, escaped). Written here rather than by template macros: a queue page shows up to 300 rows, and
    macro calls and `url_for` per row made it cost several times the request list."""

    def __init__(self, queue: Queue):
        self.queue = queue
        self.tz = current_app.config["SETTINGS"].display_timezone
        self.fields = [field for _arg, field in queue.key]
        names = tuple(arg for arg, _field in queue.key)
        endpoints = {endpoint.partition("#")[0] for endpoint in queue.links.values()}
        self.urls = {e: url_builder(e, names) for e in endpoints}
        self.overview = (
            url_builder("requests.overview", ("username", "request_name"))
            if "requests.overview" in current_app.view_functions
            else None
        )

    def write(self, table: str, columns: list[Column], items: list[dict]) -> list[tuple[Markup, str, Markup]]:
        """(data attributes, action link's address or "", cells) of each row of `table`."""
        endpoint, _, anchor = self.queue.links.get(table, "").partition("#")
        link = self.urls.get(endpoint)
        cells = [(c.td, self._cell(c, table)) for c in columns]
        extra = [(Markup(' data-{}="').format(f), f) for f in self.queue.row_fields]
        key_attr = Markup(' data-{}="').format(self.queue.key_attr)
        out = []
        for r in items:  # plain str joins: `Markup + str` would escape the markup around the values
            key = [r[f] for f in self.fields]
            attrs = [piece for a, f in extra for piece in (a, _html(r[f]), '"')]
            attrs += (key_attr, _html("/".join(map(str, key))), '"')
            href = link(key) + ("#" + anchor if anchor else "") if link else ""
            html = [piece for td, show in cells for piece in (td, _html(show(r)), "</td>")]
            out.append((Markup("".join(attrs)), href, Markup("".join(html))))  # noqa: S704 - values escaped above
        return out

    def _cell(self, c: Column, table: str) -> Callable[[dict], Any]:
        """What a cell of column `c` shows, as text to escape or Markup."""
        f, tz = c.field, self.tz
        if c.shows == "own":
            assert c.render is not None, f"column {c.label} shows its own cell but has no render"
            render = c.render
            return lambda r: render(table, r)
        if c.shows == "request":
            return self._request_cell
        shows: dict[str, Callable[[dict], Any]] = {
            "text": lambda r: r[f],
            "time": lambda r: format_datetime(r[f], tz),
            "person": lambda r: r[f] or "Not assigned",
            "date": lambda r: format_date(r[f]) or "—",
            "dash": lambda r: r[f] or "—",
            "blank": lambda r: r[f] or "",
            "label": lambda r: (c.labels or {}).get(r[f], ""),
        }
        return shows[c.shows]

    def _request_cell(self, r: dict) -> Markup:
        """The request's name, linked to its overview, and the follow-up badge of a later imaging request."""
        name = _html(r["request_name"])
        if self.overview:
            name = "".join(('<a href="', _html(self.overview((r["username"], r["request_name"]))), '">', name, "</a>"))
        follow_up = (r.get("imaging_request_number") or 1) > 1
        return Markup(name + FOLLOW_UP if follow_up else name)  # noqa: S704 - escaped above


FOLLOW_UP = ' <span class="badge text-bg-secondary">follow-up</span>'  # HTML
_SPECIAL = re.compile("[&<>\"']")


def _html(value: Any) -> str:
    """`value` as HTML, as Jinja writes it (Markup as it is, anything else escaped), as a plain str: most cells
    need no escaping, and a Markup per cell was the largest part of writing the rows."""
    if hasattr(value, "__html__"):
        return value.__html__()
    text = str(value)
    return str(escape(text)) if _SPECIAL.search(text) else text


def queue_csv(queue: Queue) -> Response:
    """One table of the queue (`?table=`, 400 otherwise) as CSV: the rows the page's filters and sort give,
    every page, streamed."""
    names = list(queue.tables)
    table = request.args.get("table", "")
    if table not in names:
        abort(400, f"Choose a table: {', '.join(names)}.")
    viewer, sees_all, flt = current_user.get_id(), queue.sees_everything(current_user), queue.read_filter()
    first = parse_page_request(queue.queries.QUEUE_SORTS, queue.queries.QUEUE_DEFAULT_SORT[table])
    columns = [c for c in queue.columns if c.csv]
    fetch = queue.fetch(table, viewer, sees_all, flt)
    chunks = ([[c.csv_value(r) for c in columns] for r in rows] for rows in pages(fetch, first))
    return csv_response(f"lightserv-{queue.area}-{table}.csv", [c.csv for c in columns], chunks)


def add_queue_routes(bp: Blueprint, queue: Queue, guard: Callable[[Callable], Callable]) -> None:
    """The queue page (`<area>.queue`, /queue) and the CSV of one of its tables (`<area>.queue_csv`,
    /queue.csv), both behind `guard`: who may open the queue may download it."""

    def page() -> str:
        return render_queue(queue)

    def table_csv() -> Response:
        return queue_csv(queue)

    bp.add_url_rule("/queue", "queue", guard(page))
    bp.add_url_rule("/queue.csv", "queue_csv", guard(table_csv))
