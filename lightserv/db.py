"""The DataJoint side: one connection per process, schemas activated on first use.

Nothing connects at import. `get_schemas()` inside an app context returns the activated schema modules
for the app's `DJ_SCHEMA_PREFIX`; a forked process (gunicorn worker, Celery child) opens its own
connection because the cached one is keyed by process id.
"""

from __future__ import annotations

import os
import threading

import datajoint as dj
from flask import current_app

from schemas import Schemas, activate_all, get_active

_lock = threading.Lock()
_cache: dict[tuple[int, str, str, int], Schemas] = {}


def connect(host: str, port: int, user: str, password: str) -> dj.Connection:
    return dj.Connection(host=host, user=user, password=password, port=port)


def schemas_for(settings) -> Schemas:
    """Activated schemas for these settings, one connection per (process, server, prefix)."""
    key = (os.getpid(), settings.db_host, settings.dj_schema_prefix, settings.db_port)
    with _lock:
        found = _cache.get(key)
        active = get_active()
        stale = found is None or active is None or active.prefix != found.prefix
        stale = stale or active.connection is not found.connection
        if stale:
            # DataJoint binds table classes to one prefix per process: (re)bind them to ours.
            conn = (
                found.connection
                if found
                else connect(settings.db_host, settings.db_port, settings.db_user, settings.db_password)
            )
            found = activate_all(settings.dj_schema_prefix, connection=conn, create_tables=False)
            _cache[key] = found
        return found


def get_schemas() -> Schemas:
    return schemas_for(current_app.config["SETTINGS"])


def forget_connections() -> None:
    """Drop cached connections (after fork, or when a test drops its schemas)."""
    with _lock:
        _cache.clear()
