"""The test MariaDB server: its address, a plain connection, and the databases under a schema prefix."""

from __future__ import annotations

import os
from typing import Any

import pymysql

DB = dict(
    host=os.environ.get("DB_HOST", "127.0.0.1"),
    port=int(os.environ.get("DB_PORT", "3306")),
    user=os.environ.get("DB_USER", "root"),
    password=os.environ.get("DB_PASSWORD", ""),
)

#: the part tables of a request, from the request's own rows to its data layers
REQUEST_PARTS = (
    "Access",
    "Sample",
    "ClearingBatch",
    "ClearingBatchSample",
    "ClearingStepEntry",
    "ClearingSectionDate",
    "ImagingRequest",
    "ImagingBatch",
    "ImagingBatchSample",
    "ImagingResolutionRequest",
    "ImagingChannel",
    "ProcessingRequest",
    "ProcessingResolutionRequest",
    "ProcessingChannel",
    "DataLayer",
)

_SCHEMATA = "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s"


def server_connection() -> pymysql.Connection:
    return pymysql.connect(autocommit=True, charset="utf8mb4", **DB)


def databases_with_prefix(prefix: str, connection: Any = None) -> list[str]:
    """Names of the databases whose name starts with `prefix`, asked through `connection` (a DataJoint
    connection) or a fresh server connection."""
    like = prefix.replace("_", "\\_") + "%"
    if connection is not None:
        return [row[0] for row in connection.query(_SCHEMATA, args=(like,)).fetchall()]
    with server_connection() as conn, conn.cursor() as cur:
        cur.execute(_SCHEMATA, (like,))
        return [row[0] for row in cur.fetchall()]


def drop_prefix(prefix: str) -> None:
    with server_connection() as conn, conn.cursor() as cur:
        cur.execute("SET FOREIGN_KEY_CHECKS=0")
        for name in databases_with_prefix(prefix):
            cur.execute(f"DROP DATABASE `{name}`")
