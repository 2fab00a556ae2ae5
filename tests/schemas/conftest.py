"""Fixtures for the DataJoint schema tests: a fresh schema prefix on the real MariaDB per test session.

Connection settings come from ``DJ_HOST`` / ``DJ_USER`` / ``DJ_PASS`` (default ``127.0.0.1`` / ``root`` /
empty password).
"""

from __future__ import annotations

import os
import secrets
import warnings
from collections.abc import Iterator

import datajoint as dj
import pytest

import schemas
from schemas.seed import seed_lookups
from tests.support.databases import databases_with_prefix


def _connect() -> dj.Connection:
    with warnings.catch_warnings():
        # DataJoint 2 warns that MariaDB support is best-effort; known and accepted.
        warnings.filterwarnings("ignore", message="MariaDB is not officially supported", category=UserWarning)
        return dj.Connection(
            os.environ.get("DJ_HOST", "127.0.0.1"),
            os.environ.get("DJ_USER", "root"),
            os.environ.get("DJ_PASS", ""),
            use_tls=False,
        )


@pytest.fixture(scope="session")
def dj_test_connection() -> Iterator[dj.Connection]:
    """One DataJoint connection for the whole session."""
    connection = _connect()
    yield connection
    connection.close()


# The binding this process had before these tests (for example the app's schemas, activated by the
# top-level conftest); DataJoint binds table classes per process, so it is restored after this folder.
_outer: list[schemas.Schemas | None] = []


def _restore_outer_binding() -> None:
    outer = _outer[0] if _outer else None
    if outer is not None and schemas.get_active() is not outer:
        schemas.activate_all(outer.prefix, outer.connection)


@pytest.fixture(scope="session")
def dj_schemas(dj_test_connection: dj.Connection) -> Iterator[schemas.Schemas]:
    """Activate the three schemas under a unique ``lstest_<8 hex>_`` prefix; drop them afterwards."""
    _outer[:] = [schemas.get_active()]
    prefix = f"lstest_{secrets.token_hex(4)}_"
    activated = schemas.activate_all(prefix, dj_test_connection)
    try:
        yield activated
    finally:
        schemas.drop_all(prefix, dj_test_connection)
        assert databases_with_prefix(prefix, dj_test_connection) == []
        if schemas.get_active() is None:
            _restore_outer_binding()


@pytest.fixture(scope="module", autouse=True)
def _bound_to_test_prefix(dj_schemas: schemas.Schemas) -> Iterator[None]:
    """Bind the table classes to the test prefix for this module; give the outer binding back after it."""
    current = schemas.get_active()
    if current is not None and current.prefix != dj_schemas.prefix:
        _outer[:] = [current]  # someone (the app fixture) activated its prefix after dj_schemas did
    schemas.activate_all(dj_schemas.prefix, dj_schemas.connection)
    yield
    _restore_outer_binding()


@pytest.fixture()
def db(dj_schemas: schemas.Schemas) -> Iterator[schemas.Schemas]:
    """The activated schemas with seeded lookups and empty data tables at the start of the test."""
    active = schemas.get_active()
    assert active is not None and active.prefix == dj_schemas.prefix
    _empty_data_tables(active)
    seed_lookups(active)
    yield active


def _empty_data_tables(s: schemas.Schemas) -> None:
    """Delete every row except the seeded lookups (cascading from the roots, no prompt)."""
    ls, jobs, facility = s.lightsheet, s.jobs, s.facility
    for table in (
        jobs.SlurmJobState,
        jobs.PipelineRun,
        ls.User,
        ls.AntibodyHistory,
        ls.AntibodyOverview,
        facility.StorageSnapshot,
    ):
        table().delete(prompt=False)
