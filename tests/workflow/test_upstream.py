"""The progress each stage's row keeps of the row it waits for (lightserv.workflow.upstream): triggers keep the
copies equal to the upstream rows in the same transaction, whoever writes them, so the queues' "ready" and
"waiting" tables are the rows whose upstream work is (not) done."""

from __future__ import annotations

import random

import pymysql
import pytest

from lightserv.workflow.upstream import COPIES
from tests.factories import new_request, sample, submit
from tests.support.databases import DB


def _cursor():
    return pymysql.connect(autocommit=True, **DB).cursor()


def out_of_step(app) -> dict[str, int]:
    """Per copy: the number of rows whose copy differs from their upstream row's progress."""
    ls = f"`{app.config['SETTINGS'].dj_schema_prefix}lightsheet`"
    found = {}
    with _cursor() as cur:
        for c in COPIES:
            cur.execute(
                f"SELECT COUNT(*) FROM {ls}.{c.table} d JOIN {ls}.{c.upstream} u ON {c.same_row('u', 'd')}"
                f" WHERE d.{c.column} <> u.{c.progress}"
            )
            found[c.column] = cur.fetchone()[0]
    return found


@pytest.fixture
def world(app, make_user):
    ana = make_user("ana")
    submit(app, new_request(ana, "two", [sample("s1"), sample("s2")]))
    submit(app, new_request(ana, "one", [sample("a1"), sample("a2", protocol="udisco")]))
    return ana


def rows_in_step(app) -> int:
    """The number of downstream rows checked (every copy has rows to compare)."""
    ls = f"`{app.config['SETTINGS'].dj_schema_prefix}lightsheet`"
    with _cursor() as cur:
        total = 0
        for c in COPIES:
            cur.execute(f"SELECT COUNT(*) FROM {ls}.{c.table}")
            total += cur.fetchone()[0]
    return total


def test_random_changes_in_plain_sql_keep_every_copy_in_step(app, world):
    """Updates of one row or every row at once, in and out of rolled-back transactions."""
    ls = f"`{app.config['SETTINGS'].dj_schema_prefix}lightsheet`"
    rng = random.Random(8)
    assert rows_in_step(app) >= 6 and out_of_step(app) == {"clearing_state": 0, "imaging_state": 0}
    with _cursor() as cur:
        for step in range(60):
            c = rng.choice(COPIES)
            rollback = rng.random() < 0.2
            if rollback:
                cur.execute("BEGIN")
            limit = "" if rng.random() < 0.2 else f" ORDER BY RAND({step}) LIMIT 1"
            cur.execute(f"UPDATE {ls}.{c.upstream} SET {c.progress} = %s{limit}", (rng.choice(c.values),))
            if rollback:
                cur.execute("ROLLBACK")
            assert out_of_step(app) == {"clearing_state": 0, "imaging_state": 0}, step


def test_a_new_row_takes_the_progress_of_the_row_it_waits_for(app, world):
    ls = f"`{app.config['SETTINGS'].dj_schema_prefix}lightsheet`"
    with _cursor() as cur:
        cur.execute(f"UPDATE {ls}.request__clearing_batch SET clearing_progress = 'complete'")
        cur.execute(f"UPDATE {ls}.request__imaging_request SET imaging_progress = 'complete'")
    submit(app, new_request(world, "three", [sample("t1")]))  # pending upstream rows of its own
    with _cursor() as cur:
        cur.execute(f"SELECT request_name, imaging_state FROM {ls}.request__processing_request ORDER BY 1")
        states = dict(cur.fetchall())
    assert states == {"one": "complete", "three": "pending", "two": "complete"}
    assert out_of_step(app) == {"clearing_state": 0, "imaging_state": 0}


def test_the_migration_adds_the_copies_as_declared_and_fills_them(app, world, settings):
    from lightserv.dbinit import MIGRATIONS

    step = dict(MIGRATIONS)["0008_upstream_progress"]
    ls = f"`{settings.dj_schema_prefix}lightsheet`"

    def declared() -> dict:
        with _cursor() as cur:
            found = {}
            for c in COPIES:
                cur.execute(f"SHOW FULL COLUMNS FROM {ls}.{c.table} WHERE Field = %s", (c.column,))
                found[c.column] = cur.fetchall()
                cur.execute(f"SHOW INDEX FROM {ls}.{c.table}")
                found[c.table] = sorted((r[2], r[3], r[4]) for r in cur.fetchall())
            return found

    created = declared()  # as DataJoint made them from the table definitions
    with _cursor() as cur:
        for c in COPIES:
            cur.execute(f"SHOW INDEX FROM {ls}.{c.table}")
            extra = sorted({r[2] for r in cur.fetchall() if r[2].endswith(("_2", "_3"))})
            drops = ", ".join([f"DROP COLUMN {c.column}", *(f"DROP INDEX {name}" for name in extra)])
            cur.execute(f"ALTER TABLE {ls}.{c.table} {drops}")
            cur.execute(f"DROP TRIGGER IF EXISTS {ls}.`{c.upstream}_{c.column}`")
            cur.execute(f"UPDATE {ls}.{c.upstream} SET {c.progress} = '{c.values[-1]}'")  # no trigger copies it
    try:
        assert declared() != created
    finally:
        step(app)
        step(app)  # running it again is harmless
    assert declared() == created
    assert out_of_step(app) == {"clearing_state": 0, "imaging_state": 0}
