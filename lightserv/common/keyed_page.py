"""One page of a long list in two cheap statements, whatever the size of the facility's history.

The rows of a list are the rows of one table matching a condition. Their number is counted on that table
(and the few joins the condition needs) alone; the page's keys are sorted and limited first, carrying
nothing but the key and the sort value; everything a row shows (joined rows, correlated counts and lists)
is read for those rows only. Nothing is aggregated over every row of the table to count or to show a page.
"""

from __future__ import annotations

from dataclasses import dataclass

from lightserv.common.pagination import Page, PageRequest
from lightserv.common.sql import query


@dataclass(frozen=True)
class KeyedSource:
    """Where the rows of one list come from.

    table: full name of the table whose rows are listed (as `alias`), key: its primary key columns;
    where: the SQL condition over `alias` and the aliases of `filter_joins`, and the parameters of
    `filter_joins` and the condition (see `all_of`); columns: the SELECT list of a row, over `alias` and the
    aliases of `joins`, column_args: its parameters."""

    table: str
    key: tuple[str, ...]
    where: tuple[str, tuple]
    columns: str
    joins: str = ""
    filter_joins: str = ""
    alias: str = "b"
    column_args: tuple = ()


def all_of(*conditions: tuple[str, tuple] | None) -> tuple[str, tuple]:
    """(SQL, parameters) of the conditions given (each `(SQL, its parameters)`; None: left out) joined by AND."""
    kept = [c for c in conditions if c]
    return " AND ".join(sql for sql, _ in kept) or "1", tuple(a for _, args in kept for a in args)


def keyed_page(
    source: KeyedSource, sort_sql: str, page: PageRequest, sort_joins: str = "", ties: str | None = None
) -> Page:
    """The page of `source` sorted by `sort_sql` (SQL over the alias, the aliases of `filter_joins` and of
    `sort_joins`) in the page's direction, the key breaking ties. `ties`: the alias of a joined table with the
    same key whose index orders by the sort value and then the key (so MariaDB reads that index in order instead
    of sorting every row)."""
    b, (where, args) = source.alias, source.where
    rows_of = f"FROM {source.table} {b}{source.filter_joins}"
    total = int(query(f"SELECT COUNT(*) AS n {rows_of} WHERE {where}", args)[0]["n"])
    direction = page.direction.upper()
    order = [f"sort_value {direction}", *(f"{c} {direction}" for c in source.key)]
    by = [f"{sort_sql} {direction}", *(f"{ties}.{c} {direction}" for c in source.key)] if ties else order
    keys = (
        f"SELECT {', '.join(f'{b}.{c}' for c in source.key)}, {sort_sql} AS sort_value {rows_of}{sort_joins}"
        f" WHERE {where} ORDER BY {', '.join(by)} LIMIT %s OFFSET %s"
    )
    items = query(  # STRAIGHT_JOIN: the page's keys first, then one primary-key lookup per joined row
        f"SELECT STRAIGHT_JOIN {source.columns} FROM ({keys}) k JOIN {source.table} {b} USING ({', '.join(source.key)})"
        f"{source.joins} ORDER BY {', '.join('k.' + o for o in order)}",
        [*source.column_args, *args, page.per_page, page.offset],
    )
    return Page(items=items, total=total, request=page)
