"""DataJoint schemas of lightserv: one module per schema, activated together by :func:`activate_all`.

The modules :mod:`schemas.lightsheet`, :mod:`schemas.jobs` and :mod:`schemas.facility` declare their
tables on unactivated ``dj.Schema()`` objects; importing them never touches the database. A process
binds them to ``<prefix>lightsheet``, ``<prefix>jobs`` and ``<prefix>facility`` once::

    from schemas import activate_all
    s = activate_all(settings.DJ_SCHEMA_PREFIX, connection)   # creates missing tables
    Request = s.lightsheet.Request
    with s.connection.transaction:
        Request.insert1(...)
        Request.Sample.insert(...)

Because DataJoint binds the table *classes*, one process is bound to one prefix at a time. Calling
:func:`activate_all` again with the same prefix and connection is a no-op (it recreates tables only if
they were dropped behind its back); calling it with another prefix or connection rebinds every class.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType

import datajoint as dj

from . import facility, jobs, lightsheet

__all__ = [
    "SCHEMA_SUFFIXES",
    "Schemas",
    "activate_all",
    "deactivate_all",
    "drop_all",
    "get_active",
    "schema_names",
]

logger = logging.getLogger(__name__)

#: schema name suffixes, in dependency order (jobs references lightsheet)
SCHEMA_SUFFIXES: tuple[str, ...] = ("lightsheet", "jobs", "facility")

_MODULES: dict[str, ModuleType] = {"lightsheet": lightsheet, "jobs": jobs, "facility": facility}
_PREFIX_RE = re.compile(r"[A-Za-z0-9_]*")
_MAX_DATABASE_NAME = 64

_lock = threading.RLock()


@dataclass(frozen=True, eq=False)
class Schemas:
    """The activated schema modules of one prefix and the connection they are bound to (compared by identity)."""

    prefix: str
    connection: dj.Connection
    lightsheet: ModuleType
    jobs: ModuleType
    facility: ModuleType

    @property
    def names(self) -> tuple[str, ...]:
        """Database names, in dependency order."""
        return schema_names(self.prefix)


_active: Schemas | None = None


def schema_names(prefix: str) -> tuple[str, ...]:
    """``(<prefix>lightsheet, <prefix>jobs, <prefix>facility)`` after validating the prefix."""
    if not isinstance(prefix, str) or not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"Invalid schema prefix {prefix!r}: use letters, digits and underscores only.")
    names = tuple(f"{prefix}{suffix}" for suffix in SCHEMA_SUFFIXES)
    too_long = [n for n in names if len(n) > _MAX_DATABASE_NAME]
    if too_long:
        raise ValueError(f"Schema prefix {prefix!r} is too long ({too_long[0]!r} exceeds 64 characters).")
    return names


class _UnsignedIntegerNoticeFilter(logging.Filter):
    """Drop DataJoint's "consider a core type" notice for unsigned integers.

    DataJoint 2 has no unsigned core integer types; the spec's ``tinyint unsigned`` etc. are declared as
    native types on purpose, so the notice (one per column, at table creation) is noise.
    """

    _pattern = re.compile(r"Native type '(tiny|small|medium|big)?int unsigned( auto_increment)?' is used")

    def filter(self, record: logging.LogRecord) -> bool:
        return not self._pattern.match(record.getMessage())


@contextmanager
def _quiet_unsigned_notices() -> Iterator[None]:
    dj_logger = logging.getLogger("datajoint")
    notice_filter = _UnsignedIntegerNoticeFilter()
    dj_logger.addFilter(notice_filter)
    try:
        yield
    finally:
        dj_logger.removeFilter(notice_filter)


def _declared_classes(schema: dj.Schema) -> Iterator[type]:
    """Every table class (masters and their parts) declared on an unactivated-or-active schema."""
    for cls, _context in schema.declare_list:
        yield cls
        for name, value in vars(cls).items():
            if name[:1].isupper() and isinstance(value, type) and issubclass(value, dj.Part):
                yield value


def _unbind() -> None:
    """Detach the schema objects and table classes from their database (no database access)."""
    for suffix in reversed(SCHEMA_SUFFIXES):
        schema = _MODULES[suffix].schema
        connection = schema.connection
        if connection is not None and schema.database is not None:
            connection.schemas.pop(schema.database, None)
            connection.dependencies.clear()
        for cls in _declared_classes(schema):
            cls.database = None
            cls._connection = None
            cls._heading = None
            cls._support = None
        schema.database = None
        schema.connection = None


def deactivate_all() -> None:
    """Unbind every table class from its database; :func:`activate_all` may then bind another prefix."""
    global _active
    with _lock:
        _unbind()
        _active = None


def get_active() -> Schemas | None:
    """The schemas activated in this process, or ``None``."""
    return _active


def activate_all(prefix: str, connection: dj.Connection | None = None, *, create_tables: bool = True) -> Schemas:
    """Activate ``<prefix>lightsheet``, ``<prefix>jobs`` and ``<prefix>facility`` and return them.

    Creates missing databases and tables when ``create_tables`` is true (the CLI/test path). With
    ``create_tables=False`` (web app, workers) nothing is created: a missing database raises
    ``DataJointError`` here and a missing table raises on first use. ``connection`` defaults to
    ``dj.conn()`` (configured by ``dj.config`` / ``DJ_*`` variables).

    Idempotent for the same prefix and connection. A different prefix or connection rebinds every
    table class of this process to the new schemas.
    """
    global _active
    names = schema_names(prefix)
    with _lock:
        if connection is None:
            connection = _active.connection if _active is not None and _active.prefix == prefix else dj.conn()
        previous = _active
        if previous is not None and (previous.prefix != prefix or previous.connection is not connection):
            logger.info("Rebinding DataJoint schemas from prefix %r to %r.", previous.prefix, prefix)
            _unbind()
            _active = None
        try:
            _activate_modules(names, connection, create_tables)
        except Exception:
            _unbind()  # leave no half-bound classes behind
            _active = None
            if previous is not None and previous.prefix != prefix:
                try:  # give the process back the binding it had
                    _activate_modules(schema_names(previous.prefix), previous.connection, False)
                    _active = previous
                except Exception:  # noqa: BLE001 - the original error is the one to report
                    _unbind()
            raise
        if _active is None:
            _active = Schemas(
                prefix=prefix,
                connection=connection,
                lightsheet=lightsheet,
                jobs=jobs,
                facility=facility,
            )
        return _active


def _activate_modules(names: tuple[str, ...], connection: dj.Connection, create_tables: bool) -> None:
    with _quiet_unsigned_notices():
        for suffix, name in zip(SCHEMA_SUFFIXES, names, strict=True):
            _MODULES[suffix].schema.activate(
                name, connection=connection, create_schema=create_tables, create_tables=create_tables
            )


def drop_all(prefix: str, connection: dj.Connection | None = None, *, allow_empty_prefix: bool = False) -> None:
    """Drop ``<prefix>facility``, ``<prefix>jobs`` and ``<prefix>lightsheet`` (no prompt; irreversible).

    Databases are dropped in reverse dependency order with ``DROP DATABASE IF EXISTS``, so dropping a
    prefix that does not exist is harmless. If this process is bound to that prefix, its table classes
    are unbound first. An empty prefix (unprefixed schemas) must be confirmed with
    ``allow_empty_prefix=True``.
    """
    global _active
    names = schema_names(prefix)
    if not prefix and not allow_empty_prefix:
        raise ValueError("Refusing to drop unprefixed schemas without allow_empty_prefix=True.")
    with _lock:
        if connection is None:
            connection = _active.connection if _active is not None and _active.prefix == prefix else dj.conn()
        if connection.in_transaction:
            raise dj.DataJointError("drop_all cannot run inside a transaction.")
        if _active is not None and _active.prefix == prefix:
            _unbind()
            _active = None
        for name in reversed(names):
            connection.query(f"DROP DATABASE IF EXISTS `{name}`")
        connection.dependencies.clear()
