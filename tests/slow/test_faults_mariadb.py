"""Fault: MariaDB killed (SIGKILL, as a crash) and started again (issues 11 and 19).

The web app and a Celery worker run as real programs on a MariaDB server of the test's own. While it is down
every page answers a clear 503 naming the database (never a traceback, never "run init-db"), and /healthz says
"degraded" naming MariaDB. When it is back the same processes serve pages and send email again: the DataJoint
connection and the SQLAlchemy pool reconnect by themselves.

The same crash while a processing pipeline runs on the real one-node Slurm (a Celery worker and beat on the
private server): once MariaDB is back the run completes exactly once, with one job per stage on the cluster,
each job state and each email once, and every layer ready.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import ROOT, csrf_from
from tests.processing.conftest import PKEY, PR_PATH, complete_imaging, lavision_request, pr_row, runs_of
from tests.requests.test_new_request_page import full_form
from tests.runs.test_engine_backends import stage_names
from tests.slow.conftest import emails_by_subject, health, login, wait_for
from tests.support import processes
from tests.support.atlas import synthetic_atlas_in_place
from tests.support.auth import login as sign_in_as
from tests.support.cluster_fixtures import jobs_named
from tests.support.slurm import Unavailable

PASSWORD = "correct horse battery"
UNAVAILABLE = "The database is not reachable at the moment"


def flask_cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "run:app", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture
def db_stack(private_mariadb, settings_overrides, start_web, start_worker):
    """init-db and two users on the private server, then the web app and a worker on it."""
    db = {"db_host": "127.0.0.1", "db_port": private_mariadb.port, "db_user": "root", "db_password": ""}
    env = processes.env_for({**settings_overrides, **db})
    flask_cli(env, "init-db")
    flask_cli(env, "create-user", "ana", "--email", "ana@lab.example", "--password", PASSWORD)
    flask_cli(env, "create-user", "clara", "--email", "clara@core.example")
    flask_cli(env, "grant-role", "clara", "clearing_staff")
    web = start_web(workers=2, **db)
    worker = start_worker(**db)
    wait_for(lambda: health(web.url)[1].get("worker") == "ok", 90, "the worker heartbeat", worker.log)
    return web, worker


def test_mariadb_killed_and_restarted_answers_503_then_recovers_without_restarting_the_app(
    smtp, private_mariadb, db_stack
):
    web, worker = db_stack
    ana = login(web.url, "ana", PASSWORD)
    assert ana.get(f"{web.url}/requests/", timeout=10).status_code == 200
    assert health(web.url)[1]["db"] == "ok"
    # a serving worker has checked the schema version (once per process, it needs the database): requests on
    # fresh connections reach both gunicorn workers before the crash, as in a deployment that has been up
    for _ in range(12):
        assert requests.get(f"{web.url}/login", timeout=30).status_code == 200

    private_mariadb.kill()
    try:
        status, body = health(web.url)
        assert status == 503 and body["status"] == "degraded", body
        assert body["db"].startswith(f"error: MariaDB at 127.0.0.1:{private_mariadb.port} is not answering"), body
        assert body["redis"] == "ok"
        for path in ("/requests/", "/requests/new", "/profile"):
            resp = ana.get(web.url + path, timeout=30)
            assert resp.status_code == 503, (path, resp.status_code, resp.text[:300])
            assert UNAVAILABLE in resp.text and "Traceback" not in resp.text and "init-db" not in resp.text
        api = ana.get(f"{web.url}/api/v1/requests", timeout=30)
        assert api.status_code == 503 and api.json()["unavailable"] == "db"
        fresh = requests.Session()  # the login page itself needs no database; signing in does
        token = csrf_from(fresh.get(f"{web.url}/login", timeout=30).text)
        resp = fresh.post(f"{web.url}/login", data={"username": "ana", "password": PASSWORD, "csrf_token": token},
                          timeout=30)  # fmt: skip
        assert resp.status_code == 503 and UNAVAILABLE in resp.text
    finally:
        private_mariadb.start()

    # the same web processes and worker, no restart: the first page after the restart already works
    for _ in range(4):  # both gunicorn workers (requests are spread over them) reconnect
        assert ana.get(f"{web.url}/requests/", timeout=30).status_code == 200
    assert health(web.url)[1]["db"] == "ok"
    token = csrf_from(ana.get(f"{web.url}/requests/new", timeout=10).text)
    form = {
        **full_form(1, correspondence_email="ana@lab.example", confirmed="y"),  # "Submit request" on the review page
        "action": "submit",
        "csrf_token": token,
    }
    resp = ana.post(f"{web.url}/requests/new", data=form, allow_redirects=False, timeout=60)
    assert resp.status_code == 302, resp.text[:1000]
    assert ana.get(web.url + resp.headers["Location"], timeout=10).status_code == 200
    # the worker reconnected too: it reads the outbox rows and sends each email once
    wait_for(lambda: len(emails_by_subject(smtp)) >= 2, 60, "the submission emails", worker.log)
    assert all(n == 1 for n in emails_by_subject(smtp).values()), emails_by_subject(smtp)
    assert "Traceback" not in web.log()


# --- MariaDB restarted while a pipeline runs on Slurm ---------------------------------------------------------

STAGE_RESOURCES = {"*": {"cpus": 1, "mem_gb": 8}}  # the one-node test cluster


@pytest.fixture
def pipeline_stack(private_mariadb, settings_overrides, slurm_cluster, tmp_path, start_worker, start_beat):
    """An app object of the test's own on the private server (schemas created, ana and pat), Slurm as the
    cluster, and a Celery worker and beat on the same server and cluster; yields (app, backend, worker)."""
    from lib.cluster import LocalTransport, SlurmBackend
    from lightserv import create_app
    from lightserv.auth import services
    from lightserv.db import forget_connections
    from lightserv.dbinit import init_db
    from lightserv.extensions import db
    from lightserv.settings import Settings

    if isinstance(slurm_cluster, Unavailable):
        pytest.skip(str(slurm_cluster).splitlines()[0])
    data_root, atlas_root = tmp_path / "data", tmp_path / "atlas"
    data_root.mkdir(mode=0o755)  # Slurm runs the jobs as the submitting user
    atlas_root.mkdir()
    values = dict(db_host="127.0.0.1", db_port=private_mariadb.port, db_user="root", db_password="",
                  data_root=data_root, atlas_root=atlas_root, cluster_backend="slurm", slurm_transport="local",
                  slurm_conf=slurm_cluster.conf, slurm_poll_seconds=2)  # fmt: skip
    app = create_app(Settings(**{**settings_overrides, **values, "slurm_stage_resources": STAGE_RESOURCES}))
    init_db(app)
    with app.app_context():
        services.ensure_user("ana", email="ana@lab.example", password=None, actor="test")
        services.ensure_user("pat", email="pat@core.example", password=None, actor="test")
        services.grant_role("pat", "processing_staff", actor="test")
    stack = {**values, "slurm_stage_resources": json.dumps(STAGE_RESOURCES)}
    worker = start_worker("pipeline", **stack)
    start_beat(**stack)
    try:
        yield app, SlurmBackend(LocalTransport(env=slurm_cluster.env)), worker
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        forget_connections()


def test_mariadb_restarted_while_a_pipeline_runs_on_slurm_completes_it_exactly_once(
    smtp, private_mariadb, pipeline_stack
):
    from lib.naming import rawdata_resolution_dir
    from lib.synth import make_brain, write_lavision
    from lightserv.db import get_schemas
    from lightserv.extensions import db
    from lightserv.models import EmailOutbox, EventLog

    app, backend, worker = pipeline_stack
    settings = app.config["SETTINGS"]
    brain = make_brain((32, 96, 96), seed=11, voxel_size_um=(5.0, 5.0, 10.0), n_cells=25)
    lavision_request(app)
    raw = settings.data_root / rawdata_resolution_dir("ana", "brains", "s1", 1, "1.3x") / "acq"
    acquisition = write_lavision(raw, brain, tiling=(1, 1), channels=("488", "647"), z_step_um=10.0)
    complete_imaging(app, planes=acquisition.n_planes, make_folders=False, filters=acquisition.filters)
    with synthetic_atlas_in_place(app, settings, brain):
        client = app.test_client()
        sign_in_as(client, "pat")
        token = csrf_from(client.get(f"/processing/entry/{PR_PATH}").get_data(as_text=True))
        assert client.post(f"/processing/entry/{PR_PATH}/start", data={"csrf_token": token}).status_code == 303

        def running_job() -> bool:  # a stage of the pipeline is on the cluster and the run is not over
            runs = runs_of(app, kind="lavision_pipeline")
            if not runs or runs[0]["status"] not in ("queued", "running"):
                return False
            with app.app_context():
                jobs = (get_schemas().jobs.PipelineRun.SlurmJob & {"run_id": runs[0]["run_id"]}).to_dicts()
            return any(j["slurm_job_id"] for j in jobs)

        wait_for(running_job, 240, "a stage of the pipeline on Slurm", worker.log)
        private_mariadb.kill()
        time.sleep(15)  # polls, the relay and the heartbeat fail meanwhile; the jobs go on on the cluster
        private_mariadb.start()
        wait_for(lambda: pr_row(app)["processing_progress"] in ("complete", "failed"), 600,
                 "the processing request to settle", lambda: f"{runs_of(app)}\n{worker.log()[-3000:]}")  # fmt: skip
    assert pr_row(app)["processing_progress"] == "complete", runs_of(app)

    runs = runs_of(app, username="ana", request_name="brains")
    assert [r["status"] for r in runs if r["kind"] == "lavision_pipeline"] == ["succeeded"]
    with app.app_context():
        schemas = get_schemas()
        layers = (schemas.lightsheet.Request.DataLayer & PKEY).to_dicts()
        history = (schemas.jobs.SlurmJobState & [{"run_id": r["run_id"]} for r in runs]).to_dicts()
        finished = db.session.scalars(db.select(EventLog).where(EventLog.action == "run.finished")).all()
        mails = db.session.scalars(db.select(EmailOutbox)).all()
        jobs = (schemas.jobs.PipelineRun.SlurmJob & [{"run_id": r["run_id"]} for r in runs]).to_dicts()
    # one job per stage on the cluster (by its name), the one recorded
    recorded = {(j["run_id"], j["step_index"]): j["slurm_job_id"] for j in jobs}
    for run in runs:
        for step, name in enumerate(stage_names(app, run["run_id"])):
            assert jobs_named(backend, name) == {recorded[(run["run_id"], step)]}, (run["kind"], step, name)
    # each job state (with its count of array tasks done) written once, each run finished once, each email
    # queued and received once
    states = [(h["run_id"], h["step_index"], h["state"], h["array_done"]) for h in history]
    assert len(states) == len(set(states)), sorted(states)
    assert sorted(e.entity_key["run_id"] for e in finished) == sorted(r["run_id"] for r in runs)
    keys = [m.dedupe_key for m in mails]
    assert len(keys) == len(set(keys)), sorted(keys)
    wait_for(lambda: "lightserv: Processing complete: brains / s1" in emails_by_subject(smtp), 120,
             "the completion email", worker.log)
    assert all(n == 1 for n in emails_by_subject(smtp).values()), emails_by_subject(smtp)
    # every layer ready, cell detection among them
    assert layers and {x["status"] for x in layers} == {"ready"}, layers
    assert {"cells_ch647", "registered_ch488_regch"} <= {x["layer_name"] for x in layers}
