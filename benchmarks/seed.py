"""Seed a schema prefix with a facility-sized database, fast (bulk multi-row inserts).

    python -m benchmarks.seed --prefix lsbench_lists_ [--requests 5000] [--samples 20000] [--drop]

Reusable by other benchmarks::

    from benchmarks.seed import seed_prefix, drop_prefix
    summary = seed_prefix("lsbench_x_", requests=5000, samples=20000)

Creates the schemas and application tables through the app's own `init_db` (so the tables are exactly
the DataJoint definitions), then inserts rows with `executemany` on one pymysql connection. The mix of
states is realistic and deterministic (fixed random seed):

| share | state of the request |
|---|---|
| 25 % | pending: nothing started |
| 20 % | clearing: some batches in progress or complete |
| 20 % | imaging: cleared, some imaging requests complete or skipped |
| 15 % | processing: imaged, processing requests running or complete |
| 15 % | complete: everything done, raw layers ready |
| 5 % | needs attention: a failed processing request or a failed layer |

About 10 % of requests have a second imaging request, 10 % are shared with an auditor or a
collaborator, 5 % are testing requests and 3 % archival. Users `bench_researcher` (owner of 25 requests,
auditor on 5) and `bench_staff` exist as lightsheet users; benchmarks give them accounts and roles.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from schemas.enums import CHANNELS_OF_MICROSCOPE, MICROSCOPE_OF_RESOLUTION, PROCESSABLE_RESOLUTIONS  # noqa: E402

BENCH_RESEARCHER = "bench_researcher"
BENCH_STAFF = "bench_staff"
STAFF_USERS = ("clearer1", "clearer2", "imager1", "imager2", "processor1")
PROTOCOLS = ("idisco_abbreviated", "idisco_plus_immuno", "udisco", "idisco_edu", "experimental")
RAT_PROTOCOLS = ("idisco_abbreviated_rat", "udisco_rat")
RESOLUTIONS = ("1.3x", "1.1x", "4x", "3.6x", "2x", "15x")
RESOLUTION_WEIGHTS = (40, 10, 8, 25, 10, 7)
STATES = (("pending", 25), ("clearing", 20), ("imaging", 20), ("processing", 15), ("complete", 15), ("attention", 5))
CHUNK = 2000
T0 = dt.datetime(2019, 1, 1)


def db_params() -> dict:
    return dict(
        host=os.environ.get("DB_HOST", "127.0.0.1"),
        port=int(os.environ.get("DB_PORT", "3306")),
        user=os.environ.get("DB_USER", "root"),
        password=os.environ.get("DB_PASSWORD", ""),
    )


def settings_for(prefix: str, **overrides):
    """TEST-mode settings bound to `prefix` (the benchmark's app and seed use the same)."""
    from lightserv.settings import Settings

    db = db_params()
    values = dict(
        lightserv_mode="TEST",
        secret_key="bench-" + uuid.uuid4().hex,
        db_host=db["host"],
        db_port=db["port"],
        db_user=db["user"],
        db_password=db["password"],
        dj_schema_prefix=prefix,
    )
    values.update(overrides)
    return Settings(**values)


@dataclass
class Rows:
    """Rows per table, in insertion (dependency) order."""

    tables: dict[str, tuple[Sequence[str], list[tuple]]] = field(default_factory=dict)

    def add(self, table: str, columns: Sequence[str], row: tuple) -> None:
        if table not in self.tables:
            self.tables[table] = (tuple(columns), [])
        self.tables[table][1].append(row)


def _sample_counts(rng: random.Random, requests: int, samples: int) -> list[int]:
    """`requests` counts between 1 and 12 summing exactly to `samples`."""
    counts = [1] * requests
    left = samples - requests
    if left < 0:
        raise ValueError("need at least one sample per request")
    while left:
        i = rng.randrange(requests)
        if counts[i] < 12:
            counts[i] += 1
            left -= 1
    return counts


def _pick_state(rng: random.Random) -> str:
    return rng.choices([s for s, _ in STATES], weights=[w for _, w in STATES])[0]


def build_rows(requests: int = 5000, samples: int = 20000, seed: int = 4) -> tuple[Rows, Rows]:
    """(lightsheet rows, app rows) for the given sizes."""
    rng = random.Random(seed)
    ls = Rows()
    app = Rows()
    owners = [f"user{i:03d}" for i in range(300)]
    users = [*owners, BENCH_RESEARCHER, BENCH_STAFF, *STAFF_USERS]
    for u in users:
        ls.add(
            "user",
            ("username", "email", "full_name", "is_active", "created_at"),
            (u, f"{u}@bench.example", "", 1, T0),
        )
    counts = _sample_counts(rng, requests, samples)
    shared_with_bench = set(rng.sample(range(requests), 5))
    for i in range(requests):
        owner = BENCH_RESEARCHER if i % (requests // 25 or 1) == 0 else owners[rng.randrange(len(owners))]
        name = f"req_{i:05d}"
        key = (owner, name)
        submitted = T0 + dt.timedelta(minutes=i * 97 + rng.randrange(60))
        state = _pick_state(rng)
        species = "rat" if rng.random() < 0.1 else "mouse"
        archival = rng.random() < 0.03
        ls.add(
            "request",
            (
                "username",
                "request_name",
                "requested_by",
                "submitted_at",
                "labname",
                "correspondence_email",
                "description",
                "species",
                "number_of_samples",
                "raw_data_retention_preference",
                "testing",
                "is_archival",
                "self_clearing",
                "self_imaging",
                "form_version",
            ),
            (
                *key,
                owner,
                submitted,
                "Bench Lab",
                f"{owner}@bench.example",
                f"Benchmark request {i}: whole-brain c-Fos mapping after task {rng.randrange(1000)}",
                species,
                counts[i],
                rng.choice(("important", "kind_of_important", "not_important", "not_sure")),
                int(rng.random() < 0.05),
                int(archival),
                0,
                0,
                "1",
            ),
        )
        app.add(
            "event_log",
            ("occurred_at", "actor", "action", "entity_type", "entity_key", "request_username", "request_name")
            + ("summary", "correlation_id"),
            (
                submitted,
                owner,
                "request.submitted",
                "request",
                json.dumps({"username": owner, "request_name": name}),
                owner,
                name,
                f"Request {owner}/{name} submitted",
                uuid.uuid4().hex,
            ),
        )
        if i in shared_with_bench and owner != BENCH_RESEARCHER:
            _access(ls, key, BENCH_RESEARCHER, "auditor", submitted)
        elif rng.random() < 0.1:
            grantee = owners[rng.randrange(len(owners))]
            if grantee != owner:
                _access(ls, key, grantee, rng.choice(("auditor", "collaborator")), submitted)
        _request_parts(ls, rng, key, counts[i], state, species, submitted)
    return ls, app


def _access(ls: Rows, key, grantee: str, level: str, when: dt.datetime) -> None:
    ls.add(
        "request__access",
        ("username", "request_name", "grantee", "access_level", "cc_on_emails", "granted_by", "granted_at"),
        (*key, grantee, level, 0, key[0], when),
    )


def _request_parts(ls: Rows, rng: random.Random, key, n: int, state: str, species: str, submitted) -> None:
    sample_names = [f"{key[1]}-{j + 1:03d}" for j in range(n)]
    for s in sample_names:
        ls.add(
            "request__sample",
            ("username", "request_name", "sample_name", "expected_handoff_date", "notes_for_clearer"),
            (*key, s, (submitted + dt.timedelta(days=14)).date(), ""),
        )
    # clearing batches: one or two protocols
    protocols = RAT_PROTOCOLS if species == "rat" else PROTOCOLS
    split = 1 if n == 1 or rng.random() < 0.7 else 2
    batches: dict[int, list[str]] = {b + 1: [] for b in range(split)}
    for j, s in enumerate(sample_names):
        batches[1 if j < (n + 1) // 2 or split == 1 else 2].append(s)
    chosen = rng.sample(protocols, split)
    done_states = {"imaging", "processing", "complete", "attention"}
    for number, members in batches.items():
        if state == "pending":
            progress = "pending"
        elif state == "clearing":
            progress = rng.choice(("in_progress", "complete", "pending")) if number > 1 else "in_progress"
        else:
            progress = "complete"
        started = submitted + dt.timedelta(days=15) if progress != "pending" else None
        completed = submitted + dt.timedelta(days=20) if progress == "complete" else None
        clearer = rng.choice(STAFF_USERS[:2]) if progress != "pending" or rng.random() < 0.3 else None
        ls.add(
            "request__clearing_batch",
            ("username", "request_name", "clearing_batch_number", "protocol", "antibody1", "antibody2")
            + ("clearing_progress", "number_in_batch", "clearer", "started_at", "completed_at"),
            (*key, number, chosen[number - 1], "", "", progress, len(members), clearer, started, completed),
        )
        for s in members:
            ls.add(
                "request__clearing_batch_sample",
                ("username", "request_name", "sample_name", "clearing_batch_number"),
                (*key, s, number),
            )
    imaging_numbers = [1, 2] if rng.random() < 0.1 else [1]
    wishes = {
        s: rng.choices(RESOLUTIONS, weights=RESOLUTION_WEIGHTS, k=1 + int(rng.random() < 0.3)) for s in sample_names
    }
    for number_ir in imaging_numbers:
        for cb, members in batches.items():
            signature = {}
            for s in members:
                for res in set(wishes[s]):
                    signature[res] = list(CHANNELS_OF_MICROSCOPE[MICROSCOPE_OF_RESOLUTION[res]][:2])
            progress_ib = "complete" if state in done_states - {"imaging"} else "pending"
            ls.add(
                "request__imaging_batch",
                ("username", "request_name", "clearing_batch_number", "imaging_request_number")
                + ("imaging_batch_number", "number_in_imaging_batch", "submitted_at", "imaging_progress")
                + ("imaging_signature",),
                (*key, cb, number_ir, 1, len(members), submitted, progress_ib, json.dumps(signature)),
            )
            for s in members:
                ls.add(
                    "request__imaging_batch_sample",
                    ("username", "request_name", "clearing_batch_number", "imaging_request_number")
                    + ("imaging_batch_number", "sample_name"),
                    (*key, cb, number_ir, 1, s),
                )
        for s in sample_names:
            _imaging(ls, rng, key, s, number_ir, sorted(set(wishes[s])), state, submitted)


def _imaging(ls: Rows, rng, key, s: str, number_ir: int, resolutions: list[str], state: str, submitted) -> None:
    if state in ("pending", "clearing"):
        progress = "pending"
    elif state == "imaging":
        progress = rng.choice(("pending", "complete", "skipped"))
    else:
        progress = "complete" if number_ir == 1 or state == "complete" else rng.choice(("pending", "complete"))
    ls.add(
        "request__imaging_request",
        ("username", "request_name", "sample_name", "imaging_request_number", "requested_by", "submitted_at")
        + ("imager", "self_imaging", "imaging_progress"),
        (*key, s, number_ir, key[0], submitted, "imager1" if progress != "pending" else None, 0, progress),
    )
    processable = [r for r in resolutions if r in PROCESSABLE_RESOLUTIONS]
    for res in resolutions:
        microscope = MICROSCOPE_OF_RESOLUTION[res]
        ls.add(
            "request__imaging_resolution_request",
            ("username", "request_name", "sample_name", "imaging_request_number", "image_resolution")
            + ("microscope", "notes_for_imager"),
            (*key, s, number_ir, res, microscope, ""),
        )
        for k, channel in enumerate(CHANNELS_OF_MICROSCOPE[microscope][:2]):
            ls.add(
                "request__imaging_channel",
                ("username", "request_name", "sample_name", "imaging_request_number", "image_resolution")
                + ("channel_name", "ventral_up", "registration", "generic_imaging"),
                (*key, s, number_ir, res, channel, 0, int(k == 0 and res in ("1.1x", "1.3x")), int(k > 0)),
            )
            if progress == "complete":
                failed = state == "attention" and rng.random() < 0.5
                ls.add(
                    "request__data_layer",
                    ("username", "request_name", "sample_name", "imaging_request_number")
                    + ("processing_request_number", "image_resolution", "ventral_up", "channel_name", "product")
                    + ("lightsheet", "layer_name", "layer_type", "layer_path", "source_path", "status", "created_at"),
                    (
                        *key,
                        s,
                        number_ir,
                        0,
                        res,
                        0,
                        channel,
                        "raw",
                        "left",
                        f"raw_ch{channel}_left",
                        "image",
                        f"{key[0]}/{key[1]}/{s}/imaging_request_{number_ir}/viz/raw_{res}_{channel}_left",
                        f"{key[0]}/{key[1]}/{s}/imaging_request_{number_ir}/rawdata",
                        "failed" if failed else "ready",
                        submitted,
                    ),
                )
    if not processable:
        return
    if state in ("pending", "clearing", "imaging") or progress != "complete":
        pr_progress = "pending"
    elif state == "processing":
        pr_progress = rng.choice(("running", "complete", "pending"))
    elif state == "attention":
        pr_progress = rng.choice(("failed", "complete"))
    else:
        pr_progress = "complete"
    numbers_pr = [1, 2] if pr_progress == "complete" and rng.random() < 0.05 else [1]
    for number_pr in numbers_pr:
        ls.add(
            "request__processing_request",
            ("username", "request_name", "sample_name", "imaging_request_number", "processing_request_number")
            + ("requested_by", "submitted_at", "processor", "processing_progress", "failure_summary"),
            (
                *key,
                s,
                number_ir,
                number_pr,
                key[0],
                submitted,
                "processor1" if pr_progress != "pending" else None,
                pr_progress,
                "Stage 3 (registration) ran out of memory." if pr_progress == "failed" else "",
            ),
        )
        status = {"pending": "not_started", "running": "running", "complete": "complete", "failed": "failed"}
        for res in processable:
            ls.add(
                "request__processing_resolution_request",
                ("username", "request_name", "sample_name", "imaging_request_number", "processing_request_number")
                + ("image_resolution", "ventral_up", "atlas_name", "final_orientation", "pipeline_status"),
                (*key, s, number_ir, number_pr, res, 0, "allen_2017", "sagittal", status[pr_progress]),
            )


def _insert(cur, database: str, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
    rows = list(rows)
    cols = ", ".join(f"`{c}`" for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO `{database}`.`{table}` ({cols}) VALUES ({marks})"
    for start in range(0, len(rows), CHUNK):
        cur.executemany(sql, rows[start : start + CHUNK])
    return len(rows)


def create_prefix(prefix: str) -> None:
    """Create the schemas, lookups and application tables of `prefix` (the app's own init-db step)."""
    from lightserv import create_app
    from lightserv.db import forget_connections
    from lightserv.dbinit import init_db
    from lightserv.extensions import db

    app = create_app(settings_for(prefix))
    init_db(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    forget_connections()


def seed_prefix(prefix: str, requests: int = 5000, samples: int = 20000, seed: int = 4) -> dict:
    """Create `prefix` and fill it; returns {table: rows inserted} plus the seconds taken."""
    started = time.perf_counter()
    create_prefix(prefix)
    ls_rows, app_rows = build_rows(requests, samples, seed)
    counts: dict[str, int] = {}
    with pymysql.connect(charset="utf8mb4", autocommit=False, **db_params()) as conn, conn.cursor() as cur:
        cur.execute("SET FOREIGN_KEY_CHECKS=0")
        cur.execute("SET UNIQUE_CHECKS=0")
        for table, (columns, rows) in ls_rows.tables.items():
            counts[table] = _insert(cur, f"{prefix}lightsheet", table, columns, rows)
        for table, (columns, rows) in app_rows.tables.items():
            counts[f"app.{table}"] = _insert(cur, f"{prefix}app", table, columns, rows)
        conn.commit()
        for table in ls_rows.tables:
            cur.execute(f"ANALYZE TABLE `{prefix}lightsheet`.`{table}`")
            cur.fetchall()
    counts["seconds"] = round(time.perf_counter() - started, 1)
    return counts


def drop_prefix(prefix: str) -> None:
    """Drop every database of `prefix` (`<prefix>lightsheet`, `jobs`, `facility`, `app`)."""
    if not prefix or "`" in prefix or "%" in prefix:
        raise ValueError(f"refusing to drop prefix {prefix!r}")
    with pymysql.connect(charset="utf8mb4", autocommit=True, **db_params()) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
            (prefix.replace("_", "\\_") + "%",),
        )
        names = [r[0] for r in cur.fetchall()]
        cur.execute("SET FOREIGN_KEY_CHECKS=0")
        for name in names:
            cur.execute(f"DROP DATABASE `{name}`")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", required=True, help="schema prefix to create, e.g. lsbench_lists_")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--drop", action="store_true", help="drop the prefix instead of seeding it")
    args = parser.parse_args(argv)
    if args.drop:
        drop_prefix(args.prefix)
        print(f"dropped {args.prefix}*")
        return 0
    print(json.dumps(seed_prefix(args.prefix, args.requests, args.samples), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
