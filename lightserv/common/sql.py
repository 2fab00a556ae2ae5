"""Parameterised SQL on the DataJoint connection, and LIKE patterns for text a user typed.

Text a user typed never becomes part of a SQL string or of a DataJoint string restriction (whose
column-name parser misreads quotes and backslashes): it is passed as a parameter. In a LIKE pattern the
wildcards it contains are escaped with `!`, so `%` and `_` match only themselves (`LIKE %s ESCAPE '!'`).
"""

from __future__ import annotations

from lightserv.common.pagination import Page, PageRequest
from lightserv.db import get_schemas

LIKE = "LIKE %s ESCAPE '!'"


def _literal(text: str) -> str:
    return "".join("!" + c if c in "!%_" else c for c in text)


def like_contains(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, literally."""
    return f"%{_literal(text)}%"


def like_prefix(text: str) -> str:
    """A LIKE pattern matching values that start with `text`, literally."""
    return f"{_literal(text)}%"


def query(sql: str, args=()) -> list[dict]:
    """Rows of one parameterised statement (`%s` placeholders) as dicts."""
    return list(get_schemas().connection.query(sql, args=tuple(args), as_dict=True).fetchall())


def list_distinct(table: str, column: str, equal: tuple[str, object] | None = None) -> list:
    """The distinct values of `column` in `table`, sorted; only of the rows whose column `equal[0]` holds the
    value `equal[1]` when given."""
    where, args = (f" WHERE {equal[0]} = %s", [equal[1]]) if equal else ("", [])
    return sorted(r[column] for r in query(f"SELECT DISTINCT {column} FROM {table}{where}", args))


def contains_any(columns: tuple[str, ...], text: str) -> tuple[str, list[str]]:
    """A condition true when any of `columns` contains `text` literally, and its parameters."""
    return "(" + " OR ".join(f"{c} {LIKE}" for c in columns) + ")", [like_contains(text)] * len(columns)


def search_page(
    table, columns: tuple[str, ...], search: str, page: PageRequest, sorts: dict[str, str], key: list[str]
) -> Page:
    """One page of a DataJoint table's rows in which any of `columns` contains `search` (all rows when it
    is empty), in the whitelisted sort of `page` with the `key` columns as tie-breaker."""
    where, args = contains_any(columns, search) if search else ("1", [])
    base = f"FROM {table.full_table_name} WHERE {where}"
    total = int(query(f"SELECT COUNT(*) AS n {base}", args)[0]["n"])
    order = ", ".join(page.order_by(sorts, key))
    items = query(f"SELECT * {base} ORDER BY {order} LIMIT %s OFFSET %s", [*args, page.per_page, page.offset])
    return Page(items=items, total=total, request=page)
