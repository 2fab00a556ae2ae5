"""What a backup knows about the databases of one prefix: their tables, each table's row count and checksum,
and the FLOAT values that mariadb-dump cannot print exactly.

Table keys are `<suffix>.<table>` (e.g. `lightsheet.request`, `app.event_log`), so a manifest compares
across prefixes. The checksum is the sum over rows of the first 64 bits of an MD5 of the row, so it does not
depend on row order or on storage details (a CHECKSUM TABLE value changes with the row format and the server
version).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pymysql

from schemas import SCHEMA_SUFFIXES, schema_names

#: database suffixes of a deployment, in dependency order: the DataJoint schemas, then the application's
DATABASE_SUFFIXES: tuple[str, ...] = (*SCHEMA_SUFFIXES, "app")
#: DataJoint's lineage cache holds database-qualified names (`<prefix>lightsheet.user.username`)
LINEAGE_TABLE, LINEAGE_COLUMN = "~lineage", "lineage"


def database_names(prefix: str) -> dict[str, str]:
    """{suffix: database name} of a prefix (validated: letters, digits and underscores)."""
    return dict(zip(DATABASE_SUFFIXES, (*schema_names(prefix), f"{prefix}app"), strict=True))


def connect(settings) -> pymysql.Connection:
    """init-db's server connection, with UTC session time (TIMESTAMP values read as mariadb-dump writes them)."""
    from lightserv.dbinit import _server_connection

    conn = _server_connection(settings)
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
    return conn


@dataclass(frozen=True)
class Table:
    suffix: str
    database: str
    name: str
    columns: tuple[tuple[str, str], ...]  # (column, data type) in table order
    key: tuple[str, ...]  # primary key columns (every column when there is none)

    @property
    def label(self) -> str:
        return f"{self.suffix}.{self.name}"

    @property
    def sql_name(self) -> str:
        return f"{quote_name(self.database)}.{quote_name(self.name)}"


def quote_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def existing_databases(cur, databases: dict[str, str]) -> dict[str, str]:
    """The databases of `databases` that exist on the server."""
    cur.execute("SELECT schema_name FROM information_schema.schemata")
    present = {row[0] for row in cur.fetchall()}
    return {suffix: name for suffix, name in databases.items() if name in present}


def list_tables(cur, databases: dict[str, str]) -> list[Table]:
    """Every base table of the databases, with its columns and primary key, in a stable order."""
    suffix_of = {name: suffix for suffix, name in databases.items()}
    marks = ", ".join(["%s"] * len(suffix_of))
    cur.execute(
        "SELECT c.table_schema, c.table_name, c.column_name, c.data_type, c.column_key = 'PRI'"
        " FROM information_schema.columns c JOIN information_schema.tables t"
        " ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'"
        f" WHERE c.table_schema IN ({marks}) ORDER BY c.table_schema, c.table_name, c.ordinal_position",
        tuple(suffix_of),
    )
    found: dict[tuple[str, str], list[tuple[str, str, bool]]] = {}
    for database, table, column, data_type, in_key in cur.fetchall():
        found.setdefault((database, table), []).append((column, data_type.lower(), bool(in_key)))
    tables = []
    for (database, table), columns in found.items():
        key = tuple(c for c, _, k in columns if k) or tuple(c for c, _, _ in columns)
        tables.append(Table(suffix_of[database], database, table, tuple((c, t) for c, t, _ in columns), key))
    order = {suffix: i for i, suffix in enumerate(DATABASE_SUFFIXES)}
    return sorted(tables, key=lambda t: (order[t.suffix], t.name))


def _column_value(table: Table, column: str, data_type: str, prefix: str) -> tuple[str, list[str]]:
    """SQL for one column's bytes in the row digest, and its parameters: a FLOAT as the exact double it
    stores (its text has only 6 digits), a lineage name without the prefix (it is renamed on restore)."""
    value, params = quote_name(column), []
    if data_type == "float":
        value = f"CAST({value} AS DOUBLE)"
    elif table.name == LINEAGE_TABLE and column == LINEAGE_COLUMN and prefix:
        value = f"IF(LEFT({value}, {len(prefix)}) = %s, SUBSTRING({value}, {len(prefix) + 1}), {value})"
        params = [prefix]
    return f"CAST({value} AS BINARY)", params


def table_checksums(cur, tables: Sequence[Table], prefix: str) -> dict[str, dict[str, int | str]]:
    """{table label: {"rows": n, "checksum": "<decimal>"}} of every table, read in the cursor's transaction.
    A row's digest is the MD5 of its columns' bytes joined by 0x1F, after a map of which ones are NULL."""
    result: dict[str, dict[str, int | str]] = {}
    for table in tables:
        parts = [_column_value(table, column, data_type, prefix) for column, data_type in table.columns]
        nulls = f"CONCAT({', '.join(f'{quote_name(column)} IS NULL' for column, _ in table.columns)})"
        row_md5 = f"MD5(CONCAT_WS(0x1F, {nulls}, {', '.join(sql for sql, _ in parts)}))"
        cur.execute(
            f"SELECT COUNT(*), COALESCE(SUM(CAST(CONV(LEFT({row_md5}, 16), 16, 10) AS UNSIGNED)), 0)"
            f" FROM {table.sql_name}",
            [p for _, params in parts for p in params],
        )
        rows, checksum = cur.fetchone()
        result[table.label] = {"rows": int(rows), "checksum": str(checksum)}
    return result


def tables_with_rows(cur, tables: Sequence[Table]) -> list[str]:
    """Names (`database.table`) of the tables holding at least one row."""
    filled = []
    for table in tables:
        cur.execute(f"SELECT EXISTS (SELECT 1 FROM {table.sql_name})")
        if cur.fetchone()[0]:
            filled.append(f"{table.database}.{table.name}")
    return filled


def exact_float_statements(conn: pymysql.Connection, tables: Sequence[Table]) -> Iterator[bytes]:
    """SQL lines that set, after a restore, every FLOAT value whose 6-digit text (all mariadb-dump prints)
    reads back as another number: `USE` per database, then one UPDATE per row, keyed by its primary key."""
    cur = conn.cursor()
    current = None
    for table in tables:
        floats = [c for c, t in table.columns if t == "float" and c not in table.key]
        if not floats:
            continue
        inexact = " OR ".join(f"{quote_name(c)} <> CAST(CAST({quote_name(c)} AS CHAR) AS FLOAT)" for c in floats)
        selected = [quote_name(c) for c in table.key] + [f"CAST({quote_name(c)} AS DOUBLE)" for c in floats]
        cur.execute(f"SELECT {', '.join(selected)} FROM {table.sql_name} WHERE {inexact}")
        for row in cur.fetchall():
            if current != table.database:
                current = table.database
                yield f"USE {quote_name(table.database)};\n".encode()
            values = row[len(table.key) :]
            assignments = ", ".join(
                f"{quote_name(c)} = {'NULL' if v is None else format(float(v), '.16e')}"
                for c, v in zip(floats, values, strict=True)
            )
            where = " AND ".join(f"{quote_name(c)} <=> {conn.escape(v)}" for c, v in zip(table.key, row, strict=False))
            yield f"UPDATE {quote_name(table.name)} SET {assignments} WHERE {where};\n".encode()
