"""Benchmark of the request list, the sample list, the request overview and the three staff queues.

    python -m benchmarks.bench_lists [--requests 5000] [--samples 20000] [--clients 8] [--per-page-type 200]

1. Seeds a fresh schema prefix with `benchmarks.seed` (5,000 requests, 20,000 samples, a realistic mix).
2. Creates two users through the app's own services: `bench_staff` (facility admin: sees every request,
   and the delete dialogs of deletable rows) and `bench_researcher` (owns 25 requests, audits 5).
3. Starts gunicorn (`--workers 4`, sync process workers, one DataJoint connection each) on a free port
   with LIGHTSERV_MODE=TEST, DJ_SCHEMA_PREFIX, SECRET_KEY and REDIS_URL on a free Redis database. The WSGI
   app is `bench_app()` below: the real app plus one extra route, `/bench/naive-requests`, a naive
   request list that fetches every request and every part row and counts, filters and sorts in Python
   (it lives here, never in the app).
4. Logs each client in through `/login` and runs `--clients` concurrent clients (threads with keep-alive
   `http.client` connections), `--per-page-type` requests per page type, after a warm-up.
5. Counts the statements each page sends (DataJoint and SQLAlchemy) in-process with the Flask test client.
6. Writes `benchmarks/results/lists.json` and drops the prefix (and frees the Redis database).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.seed import BENCH_RESEARCHER, BENCH_STAFF, drop_prefix, seed_prefix, settings_for  # noqa: E402

PASSWORD = "benchmark password 4"  # noqa: S105 - a throwaway account in a throwaway schema
RESULTS = ROOT / "benchmarks" / "results" / "lists.json"
REDIS_HOST_URL = "redis://127.0.0.1:6379"
WORKERS = 4


# --------------------------------------------------------------------------------------------------
# The naive request list (baseline): fetch everything, count and sort in Python
# --------------------------------------------------------------------------------------------------


def naive_request_list():
    """The request list as a naive implementation would build it: every request and every part row
    fetched, counts, visibility and order computed in Python, then one page sliced out."""
    from flask import render_template
    from flask_login import current_user

    from lightserv.common.pagination import Page, parse_page_request
    from lightserv.common.permissions import STAFF_ROLES, roles_of
    from lightserv.common.status import STATUSES, derive_status
    from lightserv.db import get_schemas
    from lightserv.requests import queries
    from lightserv.requests.routes.lists import delete_available, list_query, request_actions
    from schemas.enums import IMAGING_REQUEST_DONE, SPECIES

    viewer = current_user.get_id()
    staff = bool(roles_of(current_user) & STAFF_ROLES)
    page_req = parse_page_request(queries.REQUEST_SORTS, "submitted_at")
    ls = get_schemas().lightsheet
    part = ls.Request
    counts: dict[tuple, dict] = {}

    def bump(row, name, by=1):
        key = (row["username"], row["request_name"])
        counts.setdefault(key, dict.fromkeys(("cleared", "clearing_started", "imaged", "imaging_total"), 0))
        counts[key][name] = counts[key].get(name, 0) + by

    for b in part.ClearingBatch.to_dicts():
        bump(b, "cleared", b["number_in_batch"] if b["clearing_progress"] == "complete" else 0)
        bump(b, "clearing_started", int(b["clearing_progress"] != "pending"))
    for i in part.ImagingRequest.to_dicts():
        bump(i, "imaging_total")
        bump(i, "imaged", int(i["imaging_progress"] in IMAGING_REQUEST_DONE))
    for p in part.ProcessingRequest.to_dicts():
        bump(p, "processing_total")
        bump(p, "processed", int(p["processing_progress"] == "complete"))
        bump(p, "processing_failed", int(p["processing_progress"] == "failed"))
    for layer in part.DataLayer.to_dicts():
        bump(layer, "layers_failed", int(layer["status"] == "failed"))
    shared = {
        (a["username"], a["request_name"]): a["access_level"] for a in part.Access.to_dicts() if a["grantee"] == viewer
    }
    rows = []
    for r in ls.Request.to_dicts():
        key = (r["username"], r["request_name"])
        if not staff and r["username"] != viewer and key not in shared:
            continue
        row = dict(r, samples=r["number_of_samples"], **counts.get(key, {}))
        for name in ("cleared", "clearing_started", "imaged", "imaging_total", "processed", "processing_total"):
            row.setdefault(name, 0)
        row.setdefault("processing_failed", 0)
        row.setdefault("layers_failed", 0)
        row["status"] = derive_status(row)
        row["relation"] = "owner" if r["username"] == viewer else shared.get(key)
        rows.append(row)
    rows.sort(key=lambda x: (x["submitted_at"], x["username"], x["request_name"]), reverse=True)
    items = rows[page_req.offset : page_req.offset + page_req.per_page]
    deletable = delete_available()
    for row in items:
        row["actions"] = request_actions(row, deletable)
    flt = queries.ListFilter(include_testing=staff)
    return render_template(
        "requests/list.html",
        page=Page(items=items, total=len(rows), request=page_req),
        flt=flt,
        query=list_query(flt, page_req),
        staff=staff,
        statuses=STATUSES,
        species=SPECIES,
        new_request_url=None,
    )


def add_naive_route(app):
    """Mount the naive baseline at /bench/naive-requests (login required, like the real list)."""
    from lightserv.common.permissions import requires

    app.add_url_rule("/bench/naive-requests", "bench_naive_requests", requires("request.list")(naive_request_list))
    return app


def bench_app():
    """WSGI app for gunicorn: the real app plus the naive baseline route."""
    from lightserv import create_app

    return add_naive_route(create_app())


# --------------------------------------------------------------------------------------------------
# Load generation
# --------------------------------------------------------------------------------------------------


class Client:
    """A logged-in HTTP client: one connection per request (gunicorn's sync workers do not keep alive)."""

    def __init__(self, port: int):
        self.port = port
        self.cookie = ""

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read().decode("utf-8", "replace")
        finally:
            conn.close()
        for header, value in resp.getheaders():
            if header.lower() == "set-cookie" and value.startswith("session="):
                self.cookie = value.split(";", 1)[0]
        return resp.status, data

    def login(self, username: str) -> None:
        _, html = self.request("GET", "/login")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
        body = urllib.parse.urlencode({"username": username, "password": PASSWORD, "csrf_token": token, "next": ""})
        status, _ = self.request("POST", "/login", body)
        if status != 302:
            raise RuntimeError(f"login of {username} failed with {status}")


def run_load(port: int, user: str, paths: list[str], clients: int) -> dict:
    """Send `paths` (in order, spread over `clients` threads); latency of each in ms."""
    local = threading.local()
    sessions: list[Client] = []
    lock = threading.Lock()

    def client() -> Client:
        if not hasattr(local, "client"):
            local.client = Client(port)
            local.client.login(user)
            with lock:
                sessions.append(local.client)
        return local.client

    def one(path: str) -> tuple[float, int]:
        c = client()
        started = time.perf_counter()
        status, _ = c.request("GET", path)
        return (time.perf_counter() - started) * 1000, status

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda _: client(), range(clients * 4)))  # log every thread in before timing
        started = time.perf_counter()
        results = list(pool.map(one, paths))
        wall = time.perf_counter() - started
    latencies = sorted(ms for ms, _ in results)
    errors = sum(1 for _, status in results if status != 200)
    return {
        "requests": len(results),
        "errors": errors,
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
        "max_ms": round(latencies[-1], 1),
        "mean_ms": round(statistics.fmean(latencies), 1),
        "throughput_rps": round(len(results) / wall, 1),
    }


# --------------------------------------------------------------------------------------------------
# Queries per page (in-process, Flask test client)
# --------------------------------------------------------------------------------------------------


def count_queries(app, user: str, path: str) -> dict:
    import datajoint as dj
    from sqlalchemy import event

    from lightserv.extensions import db
    from tests.support.auth import sign_in

    client = app.test_client()
    sign_in(client, user)
    client.get(path)  # warm caches (table headings, roles)
    dj_calls: list[str] = []
    app_calls: list[str] = []
    original = dj.Connection.query

    def query(self, sql, args=(), **kwargs):
        dj_calls.append(sql)
        return original(self, sql, args, **kwargs)

    def on_execute(conn, cursor, statement, *args):
        app_calls.append(statement)

    with app.app_context():
        engine = db.engine
    dj.Connection.query = query
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        status = client.get(path).status_code
    finally:
        dj.Connection.query = original
        event.remove(engine, "before_cursor_execute", on_execute)
    return {"status": status, "datajoint_queries": len(dj_calls), "app_db_queries": len(app_calls)}


# --------------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------------


def wait_for_quiet(threshold: float, timeout: float = 300) -> float:
    """Wait until the 1-minute load average drops below `threshold` (the machine is shared); returns it."""
    deadline = time.monotonic() + timeout
    while os.getloadavg()[0] >= threshold and time.monotonic() < deadline:
        time.sleep(5)
    return round(os.getloadavg()[0], 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def redis_database():
    """A Redis database number of our own (claimed like the test suite does), flushed and freed after."""
    import redis

    claim = redis.Redis.from_url(REDIS_HOST_URL + "/0")
    owner = "bench-" + uuid.uuid4().hex
    for number in range(15, 0, -1):
        if claim.set(f"lightserv:test-redis-db:{number}", owner, nx=True, ex=3600):
            break
    else:
        raise RuntimeError("no free Redis database (1..15 are all claimed)")
    url = f"{REDIS_HOST_URL}/{number}"
    redis.Redis.from_url(url).flushdb()
    try:
        yield url
    finally:
        redis.Redis.from_url(url).flushdb()
        if claim.get(f"lightserv:test-redis-db:{number}") == owner.encode():
            claim.delete(f"lightserv:test-redis-db:{number}")


@contextlib.contextmanager
def gunicorn(prefix: str, redis_url: str, secret: str):
    port = free_port()
    env = dict(
        os.environ,
        LIGHTSERV_MODE="TEST",
        DJ_SCHEMA_PREFIX=prefix,
        REDIS_URL=redis_url,
        SECRET_KEY=secret,
        PYTHONPATH=str(ROOT),
    )
    cmd = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "--workers",
        str(WORKERS),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "benchmarks.bench_lists:bench_app()",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if proc.poll() is not None:
                raise RuntimeError("gunicorn exited during start-up")
            time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start listening within 60 s")
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def create_users(prefix: str, redis_url: str) -> None:
    from lightserv import create_app
    from lightserv.auth import services
    from lightserv.db import forget_connections
    from lightserv.extensions import db

    app = create_app(settings_for(prefix, redis_url=redis_url))
    with app.app_context():
        services.ensure_user(BENCH_STAFF, password=PASSWORD, actor=None)
        services.grant_role(BENCH_STAFF, "facility_admin", actor=None)
        services.ensure_user(BENCH_RESEARCHER, password=PASSWORD, actor=None)
        db.session.remove()
        db.engine.dispose()
    forget_connections()


def page_plan(rng: random.Random, n: int, requests: list[tuple[str, str]]) -> dict[str, tuple[str, list[str]]]:
    """Page type -> (user, the URLs to request)."""
    pages = max(1, len(requests) // 50)
    return {
        "request_list_staff": (BENCH_STAFF, [f"/requests/?page={rng.randint(1, pages)}" for _ in range(n)]),
        "request_list_researcher": (BENCH_RESEARCHER, ["/requests/"] * n),
        "request_list_staff_sorted_by_status": (
            BENCH_STAFF,
            [
                f"/requests/?sort=status&direction={rng.choice(['asc', 'desc'])}&page={rng.randint(1, 20)}"
                for _ in range(n)
            ],
        ),
        "sample_list_staff": (BENCH_STAFF, [f"/requests/samples?page={rng.randint(1, pages * 4)}" for _ in range(n)]),
        "sample_list_researcher": (BENCH_RESEARCHER, ["/requests/samples"] * n),
        "overview_staff": (BENCH_STAFF, [f"/requests/{u}/{r}" for u, r in rng.choices(requests, k=n)]),
        "clearing_queue_staff": (BENCH_STAFF, ["/clearing/queue"] * n),
        "imaging_queue_staff": (BENCH_STAFF, ["/imaging/queue"] * n),
        "processing_queue_staff": (BENCH_STAFF, ["/processing/queue"] * n),
        "naive_request_list_staff": (
            BENCH_STAFF,
            [f"/bench/naive-requests?page={rng.randint(1, pages)}" for _ in range(n)],
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the request and sample lists and the overview.")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--per-page-type", type=int, default=200)
    parser.add_argument("--naive-requests", type=int, default=40, help="requests to the (slow) naive baseline")
    parser.add_argument(
        "--quiet-load",
        type=float,
        default=1.5,
        help="before each page type, wait (up to 5 min) until the 1-minute load average is below this",
    )
    parser.add_argument("--keep", action="store_true", help="keep the seeded prefix (prints its name)")
    args = parser.parse_args(argv)

    prefix = f"lsbench_lists_{uuid.uuid4().hex[:6]}_"
    rng = random.Random(7)
    results: dict = {
        "benchmark": "lists",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "config": {
            "requests": args.requests,
            "samples": args.samples,
            "clients": args.clients,
            "per_page_type": args.per_page_type,
            "gunicorn_workers": WORKERS,
            "naive_requests": args.naive_requests,
        },
    }
    try:
        print(f"seeding {prefix} …", flush=True)
        results["seed"] = seed_prefix(prefix, args.requests, args.samples)
        with redis_database() as redis_url:
            create_users(prefix, redis_url)
            from lightserv import create_app

            app = add_naive_route(create_app(settings_for(prefix, redis_url=redis_url)))
            with app.app_context():
                from lightserv.db import get_schemas

                keys = [(r["username"], r["request_name"]) for r in get_schemas().lightsheet.Request.proj().to_dicts()]
            plan = page_plan(rng, args.per_page_type, keys)
            naive_user, naive_paths = plan["naive_request_list_staff"]
            plan["naive_request_list_staff"] = (naive_user, naive_paths[: args.naive_requests])
            results["queries_per_page"] = {
                name: count_queries(app, user, paths[0]) for name, (user, paths) in plan.items()
            }
            secret = "bench-" + uuid.uuid4().hex
            with gunicorn(prefix, redis_url, secret) as port:
                for user, paths in plan.values():  # warm every worker on every page type
                    run_load(port, user, paths[: args.clients], args.clients)
                pages = {}
                for name, (user, paths) in plan.items():
                    load = wait_for_quiet(args.quiet_load)
                    print(f"  {name} (load average {load}) …", flush=True)
                    pages[name] = run_load(port, user, paths, args.clients)
                    pages[name]["load_average_before"] = load
                    print(f"    {pages[name]}", flush=True)
            results["pages"] = pages
        naive, fast = pages["naive_request_list_staff"], pages["request_list_staff"]
        results["naive_vs_sql_request_list"] = {
            "p50_ratio": round(naive["p50_ms"] / fast["p50_ms"], 1),
            "p95_ratio": round(naive["p95_ms"] / fast["p95_ms"], 1),
        }
        results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(json.dumps(results, indent=2, default=str))
    finally:
        if args.keep:
            print(f"kept {prefix}")
        else:
            drop_prefix(prefix)
            print(f"dropped {prefix}*")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
