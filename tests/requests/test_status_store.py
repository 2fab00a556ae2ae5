"""The counts the request list sorts and filters by (lightserv.requests.status_store): triggers keep
`request_status` equal to the counts of the rows in the same transaction, whoever writes them (the app,
direct DataJoint updates, plain SQL), so the order of the list by status is the order of the statuses its
rows show."""

from __future__ import annotations

import datetime as dt
import random

import pymysql
import pytest

from lightserv.common.status import COUNT_COLUMNS, derive_status
from tests.conftest import DB
from tests.factories import channel, new_request, resolution, sample, submit


def counts_by_request(app) -> tuple[dict, dict]:
    """(stored, live): request key -> counts and status rank, from `request_status` and from the rows."""
    from lightserv.common.sql import query
    from lightserv.requests import queries, status_store

    with app.app_context():
        t = queries.tables()
        live = query(
            f"SELECT r.username, r.request_name, r.number_of_samples AS samples"
            f"{status_store.live_counts_sql('r', vars(t))} FROM {t.request} r"
        )
        stored = query(f"SELECT * FROM {t.status}")

    def by_key(rows, rank):
        return {
            (r["username"], r["request_name"]): ({n: int(r[n]) for n in COUNT_COLUMNS}, rank(r)) for r in rows
        }

    return by_key(stored, lambda r: r["status_rank"]), by_key(live, lambda r: derive_status(r).rank)


def assert_in_step(app) -> None:
    stored, live = counts_by_request(app)
    assert stored == live


@pytest.fixture
def world(app, make_user, set_progress):
    ana = make_user("ana")
    two = sample("s2", resolution("1.3x", channel("488", "registration")), resolution("3.6x", channel("488")))
    submit(app, new_request(ana, "two", [sample("s1"), two]))
    submit(app, new_request(ana, "one", [sample("a1")]))
    submit(app, new_request(ana, "other", [sample("b1"), sample("b2", protocol="udisco")]))
    set_progress(ana, "one", clearing="complete", imaging="complete", processing="complete")
    set_progress(ana, "other", clearing="in_progress")
    return ana


def test_every_request_has_its_counts_as_the_app_and_direct_updates_change_them(app, world, set_progress):
    assert_in_step(app)
    stored, _ = counts_by_request(app)
    assert {k[1]: rank for k, (_, rank) in stored.items()} == {"two": 1, "one": 4, "other": 2}
    set_progress(world, "two", clearing="complete", imaging="skipped", processing="failed")
    set_progress(world, "one", failed_layer=True)
    assert_in_step(app)
    stored, _ = counts_by_request(app)
    assert {k[1]: rank for k, (_, rank) in stored.items()} == {"two": 3, "one": 3, "other": 2}


def test_a_deleted_request_takes_its_counts_with_it(app, client, world, login_as):
    from lightserv.requests import services_manage

    with app.test_request_context():
        services_manage.delete_request({"username": world, "request_name": "two"}, "two", world)
    stored, live = counts_by_request(app)
    assert stored == live and ("ana", "two") not in stored


def test_random_changes_in_plain_sql_keep_the_counts_in_step(app, world):
    """Inserts, updates (of counted and uncounted columns, several rows at once) and deletes of every
    counted table, in and out of transactions that are rolled back."""
    prefix = app.config["SETTINGS"].dj_schema_prefix
    ls = f"`{prefix}lightsheet`"
    rng = random.Random(14)
    conn = pymysql.connect(autocommit=True, **DB)
    changes = {
        "request__clearing_batch": ("clearing_progress", ("pending", "in_progress", "complete")),
        "request__imaging_request": ("imaging_progress", ("pending", "complete", "skipped")),
        "request__processing_request": ("processing_progress", ("pending", "running", "complete", "failed")),
        "request__data_layer": ("status", ("pending", "converting", "ready", "failed")),
    }
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT username, request_name, sample_name, imaging_request_number, image_resolution, channel_name,"
            f" ventral_up FROM {ls}.request__imaging_channel"
        )
        channels = cur.fetchall()
        for step in range(80):
            table, (column, values) = rng.choice(list(changes.items()))
            action = rng.random()
            rollback = rng.random() < 0.15
            if rollback:
                cur.execute("BEGIN")
            if table == "request__data_layer" and action < 0.4:
                u, r, s, i, res, ch, vu = rng.choice(channels)
                cur.execute(
                    f"INSERT IGNORE INTO {ls}.request__data_layer (username, request_name, sample_name,"
                    " imaging_request_number, processing_request_number, image_resolution, ventral_up, channel_name,"
                    " product, lightsheet, layer_name, layer_type, layer_path, source_path, status, created_at)"
                    " VALUES (%s, %s, %s, %s, 0, %s, %s, %s, 'raw', %s, %s, 'image', 'x', 'y', %s, %s)",
                    (u, r, s, i, res, vu, ch, rng.choice(("left", "right")), f"l{step}", rng.choice(values),
                     dt.datetime(2030, 1, 1)),
                )  # fmt: skip
            elif table == "request__data_layer" and action < 0.55:
                cur.execute(f"DELETE FROM {ls}.request__data_layer ORDER BY RAND({step}) LIMIT 1")
            elif action < 0.1 and table == "request__clearing_batch":
                cur.execute(f"UPDATE {ls}.{table} SET number_in_batch = number_in_batch + 1 ORDER BY RAND({step})"
                            " LIMIT 1")  # fmt: skip
            elif action < 0.2:
                cur.execute(f"UPDATE {ls}.{table} SET {column} = %s", (rng.choice(values),))  # every row at once
            else:
                cur.execute(f"UPDATE {ls}.{table} SET {column} = %s ORDER BY RAND({step}) LIMIT 1",
                            (rng.choice(values),))  # fmt: skip
            if rollback:
                cur.execute("ROLLBACK")
            assert_in_step(app)
    conn.close()


def test_the_migration_rebuilds_counts_from_the_rows(app, world):
    from lightserv.dbinit import _fast_lists

    prefix = app.config["SETTINGS"].dj_schema_prefix
    with pymysql.connect(autocommit=True, **DB) as conn, conn.cursor() as cur:
        cur.execute(f"UPDATE `{prefix}lightsheet`.request_status SET cleared = 40, imaged = 0, status_rank = 1")
    stored, live = counts_by_request(app)
    assert stored != live
    with app.app_context():
        _fast_lists(app)
        _fast_lists(app)  # idempotent
    assert_in_step(app)
