"""Fixtures of the processing tests: requests whose imaging is complete, built through the real submit
service and then given what imaging records on submit (raw folders, channel indexes, plane counts)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.factories import channel, new_request, resolution, sample, submit
from tests.runs.fake_backend import ScriptedBackend
from tests.support.auth import login as login  # the tests import it from here

OWNER, REQUEST = "ana", "brains"
PKEY = dict(
    username=OWNER, request_name=REQUEST, sample_name="s1", imaging_request_number=1, processing_request_number=1
)
PR_PATH = "ana/brains/s1/1/1"
LAVISION_FILTERS = {"488": 0, "555": 1, "647": 2, "790": 3}  # ascending wavelength, as the synthetic data


@pytest.fixture(autouse=True)
def clean_data_root(request):
    """DATA_ROOT is shared by the whole session: remove what these tests wrote under the owner's folder."""
    yield
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        shutil.rmtree(app.config["SETTINGS"].data_root / OWNER, ignore_errors=True)


def lavision_request(app, owner: str = OWNER, name: str = REQUEST, samples=("s1",), res: str = "1.3x", **kw):
    """A request whose samples are imaged at one LaVision resolution: 488 registration, 647 cell detection."""
    wishes = resolution(res, channel("488", "registration"), channel("647", "cell_detection"), **kw)
    submit(app, new_request(owner, name, [sample(s, wishes) for s in samples]))


def smartspim_request(app, owner: str = OWNER, name: str = REQUEST, res: str = "3.6x"):
    wishes = resolution(res, channel("488", "generic_imaging"), channel("642", "generic_imaging"))
    submit(app, new_request(owner, name, [sample("s1", wishes)]))


def finish_clearing(app, owner: str = OWNER, name: str = REQUEST) -> None:
    from lightserv.db import get_schemas

    with app.app_context():
        ls = get_schemas().lightsheet
        for batch in (ls.Request.ClearingBatch & {"username": owner, "request_name": name}).to_dicts():
            key = {k: batch[k] for k in ("username", "request_name", "clearing_batch_number")}
            ls.Request.ClearingBatch.update1({**key, "clearing_progress": "complete"})


def complete_imaging(
    app,
    *,
    owner: str = OWNER,
    name: str = REQUEST,
    sample_name: str = "s1",
    number: int = 1,
    subfolder: str = "acq",
    planes: int = 10,
    tiling: str = "1x1",
    z_step: float = 10.0,
    make_folders: bool = True,
    clearing: bool = True,
    filters: dict[str, int] | None = None,
) -> None:
    """Record what an imaging submit records and mark the imaging request complete."""
    import datetime as dt

    from lib.naming import rawdata_resolution_dir
    from lightserv.db import get_schemas

    if clearing:
        finish_clearing(app, owner, name)
    with app.app_context():
        ls = get_schemas().lightsheet
        settings = app.config["SETTINGS"]
        ikey = dict(username=owner, request_name=name, sample_name=sample_name, imaging_request_number=number)
        for c in (ls.Request.ImagingChannel & ikey).to_dicts():
            key = {k: c[k] for k in (*ikey, "image_resolution", "channel_name", "ventral_up")}
            smartspim = c["image_resolution"] in ("3.6x", "15x")
            ls.Request.ImagingChannel.update1(
                {
                    **key,
                    "rawdata_subfolder": f"Ex_{c['channel_name']}" if smartspim else subfolder,
                    "imspector_channel_index": None if smartspim else (filters or LAVISION_FILTERS)[c["channel_name"]],
                    "number_of_z_planes": planes,
                    "tiling_scheme": tiling,
                    "tiling_overlap": 0.1 if tiling != "1x1" else 0.0,
                    "z_step": z_step,
                    "image_orientation": "horizontal",
                }
            )
            if make_folders:
                folder = Path(settings.data_root) / rawdata_resolution_dir(
                    owner, name, sample_name, number, c["image_resolution"], bool(c["ventral_up"])
                )
                (folder / (f"Ex_{c['channel_name']}" if smartspim else subfolder)).mkdir(parents=True, exist_ok=True)
        ls.Request.ImagingRequest.update1(
            {**ikey, "imaging_progress": "complete", "imaging_performed_date": dt.date.today() - dt.timedelta(days=1)}
        )


@pytest.fixture
def atlas_files(app):
    """Placeholder files for every atlas (start only checks that they exist)."""
    root = Path(app.config["SETTINGS"].atlas_root)
    for name in ("allen_2017", "allen_2011", "princeton_mouse_atlas", "paxinos"):
        (root / name).mkdir(parents=True, exist_ok=True)
        for f in ("template.tif", "annotation.tif"):
            if not (root / name / f).exists():
                (root / name / f).write_bytes(b"placeholder")
    return root


def pr_row(app, pkey: dict | None = None) -> dict:
    from lightserv.db import get_schemas

    with app.app_context():
        return (get_schemas().lightsheet.Request.ProcessingRequest & (pkey or PKEY)).to_dicts()[0]


def runs_of(app, **restriction) -> list[dict]:
    from lightserv.db import get_schemas

    with app.app_context():
        return (get_schemas().jobs.PipelineRun & restriction).to_dicts(order_by=["run_id"])


def jobs_of(app, run_id: int) -> list[dict]:
    from lightserv.db import get_schemas

    with app.app_context():
        return (get_schemas().jobs.PipelineRun.SlurmJob & {"run_id": run_id}).to_dicts(order_by=["step_index"])


def outbox(app) -> list[tuple[str, list[str]]]:
    from lightserv.extensions import db
    from lightserv.models import EmailOutbox

    with app.app_context():
        return [
            (r.subject, list(r.to_addrs)) for r in db.session.scalars(db.select(EmailOutbox).order_by(EmailOutbox.id))
        ]


@pytest.fixture
def cluster(request, app, settings, backends, monkeypatch):
    """One real back end for every submission, also those queued as Celery tasks by triggers: the local
    executor, or with `@pytest.mark.parametrize("cluster", [...], indirect=True)` the one named
    ("slurm-local": the test session's one-node Slurm). Stage resources shrink to fit the test node."""
    from lightserv.runs import backend as runs_backend
    from lightserv.runs import tasks as runs_tasks
    from lightserv.runs.submission import launch

    made = backends[getattr(request, "param", "local")]
    if not hasattr(made, "impl"):
        pytest.skip(str(made).splitlines()[0])
    executor = made.impl
    monkeypatch.setattr(runs_backend, "get_backend", lambda: executor)
    monkeypatch.setattr(runs_tasks.launch_runs, "apply_async", lambda args, **_: launch(args[0], executor))  # the relay
    monkeypatch.setattr(settings, "slurm_stage_resources", {"*": {"cpus": 1, "mem_gb": 8}})
    return executor


def wait_until_settled(app, executor, timeout: float = 300.0) -> str:
    """Poll like the beat task until the processing request is complete or failed."""
    from lightserv.runs.poller import poll

    deadline = time.monotonic() + timeout
    progress = ""
    while time.monotonic() < deadline:
        with app.test_request_context():
            poll(executor)
        progress = pr_row(app)["processing_progress"]
        if progress in ("complete", "failed"):
            return progress
        time.sleep(0.5)
    raise AssertionError(f"processing did not settle in {timeout:.0f} s (last: {progress}); runs: {runs_of(app)}")


@pytest.fixture
def scripted(app, monkeypatch):
    """Every submission goes to a scripted scheduler (also those queued as Celery tasks)."""
    from lightserv.runs import backend as runs_backend
    from lightserv.runs import tasks as runs_tasks
    from lightserv.runs.submission import launch

    backend = ScriptedBackend()
    monkeypatch.setattr(runs_backend, "get_backend", lambda: backend)
    monkeypatch.setattr(runs_tasks.launch_runs, "apply_async", lambda args, **_: launch(args[0], backend))  # the relay
    return backend


def settle(app, backend, run_id: int, states: dict[int, str], **kw) -> None:
    """Set the scheduler states of a run's stages (by step index) and poll once."""
    from lightserv.runs.poller import poll

    for job in jobs_of(app, run_id):
        if job["step_index"] in states:
            backend.set(job["slurm_job_id"], states[job["step_index"]], **kw)
    with app.test_request_context():
        poll(backend)
