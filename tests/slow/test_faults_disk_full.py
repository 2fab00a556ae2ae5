"""Fault: the data storage full while raw layers are converted (issue 11, "nothing lost"). The sample's `viz`
folder, where its layers are written, is a small tmpfs of the test's own filled to the last pages (skipped,
naming mount, where mounting is not permitted); it is always unmounted afterwards.

Every conversion fails with one plain sentence naming the layer (staff: run log, processing log, email; the
researcher: the run page in words, no traceback or errno), no layer is ready (the viewer offers only ready
layers; the partial folder is kept so a re-run resumes it). Once space is freed, staff re-run each failed
run from its first unfinished stage on the run log: every layer becomes ready once, one set of jobs per
attempt, the researcher is told once.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

from lib.naming import viz_dir
from tests.processing import conftest as processing
from tests.slow import test_faults_storage as storage
from tests.slow import test_faults_worker as worker_faults
from tests.slow.conftest import emails_by_subject, wait_for
from tests.support.auth import sign_in

submitted = storage.submitted  # fixture: an imaging batch started, single-tile raw data on disk
worker_settings = storage.worker_settings
NO_SPACE = "no space left on the data storage while writing layer"
LAYERS = ["raw_ch488_left", "raw_ch488_right", "raw_ch647_left", "raw_ch647_right"]
READY_EMAIL = "lightserv: Raw data ready to view: brains / s1"
NOTICE = "lightserv: Problem preparing your raw-data view"
FREE_BYTES = 8192  # two pages: an info file or two fit, the layers' chunks do not


@contextlib.contextmanager
def full_storage(folder: Path):
    """`folder` is a 1 MB tmpfs filled up to its last FREE_BYTES for the duration; yields the filler file
    (delete it to free the space). Always unmounted afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True,
                           text=True)  # fmt: skip
    if mount.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here ({mount.stderr.strip()}): cannot fill a data storage")
    try:
        filler = folder / ".filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4k"], capture_output=True)  # stops when full
        os.truncate(filler, filler.stat().st_size - FREE_BYTES)
        with pytest.raises(OSError, match="No space left on device"):
            (folder / ".probe").write_bytes(b"x" * 3 * FREE_BYTES)
        (folder / ".probe").unlink()
        yield filler
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], check=True, capture_output=True)


def state(app) -> dict:
    from lightserv.db import get_schemas

    with app.app_context():
        schemas = get_schemas()
        layers = (schemas.lightsheet.Request.DataLayer & {"sample_name": "s1", "product": "raw"}).to_dicts()
        runs = (schemas.jobs.PipelineRun & {"sample_name": "s1", "kind": "precomputed_raw"}).to_dicts()
        jobs = (schemas.jobs.PipelineRun.SlurmJob & [{"run_id": r["run_id"]} for r in runs]).to_dicts() if runs else []
    return {"layers": layers, "runs": runs, "jobs": jobs}


def test_conversions_on_a_full_data_storage_fail_clearly_and_complete_once_space_is_freed(
    app, client, smtp, settings, make_user, submitted, worker_settings, start_worker, start_beat
):
    from lightserv.imaging import sample_services as svc
    from lightserv.imaging import tasks

    make_user("pat", roles=["processing_staff"], email="pat@core.example")
    values = dict(image_orientation="horizontal", left_lightsheet_used="y", right_lightsheet_used="y",
                  tiling_scheme="1x1", tiling_overlap="0", z_step="10", number_of_z_planes=str(worker_faults.PLANES),
                  rawdata_subfolder="acq")  # fmt: skip
    rows = {("1.3x", w, False): values for w in ("488", "647")}
    viz = settings.data_root / viz_dir("ana", "brains", "s1", 1)
    worker = start_worker(**worker_settings)
    start_beat(**worker_settings)

    def failed_runs() -> list[dict]:
        return [r for r in state(app)["runs"] if r["status"] == "failed"]

    with full_storage(viz) as filler:
        with app.test_request_context():
            member = svc.submit_sample(worker_faults.KEY, "s1", rows, "", "ian", worker_faults.IMAGER)
            tasks.queue_validation(member, "ian")
        wait_for(lambda: len(failed_runs()) == 4, 300, "the four conversions to fail", lambda: str(state(app)["runs"]))
        first = state(app)
        assert len(first["runs"]) == 4
        # no layer is ready: the viewer offers none; each says why, naming itself, for staff
        assert sorted(x["layer_name"] for x in first["layers"]) == LAYERS
        for layer in first["layers"]:
            assert layer["status"] == "failed", layer
            assert f"{NO_SPACE} {layer['layer_name']} (" in layer["failure_reason"], layer["failure_reason"]
        wait_for(lambda: emails_by_subject(smtp).get(NOTICE), 60, "the notices")

        run = first["runs"][0]
        name = next(x["layer_name"] for x in first["layers"] if x["run_id"] == run["run_id"])
        page = f"/processing/run/{run['run_id']}"
        processing.login(client, "pat")
        staff_html = client.get(page).get_data(as_text=True)
        assert f"{NO_SPACE} {name} ({settings.data_root}" in staff_html  # the full path: which storage
        sign_in(client, "ana", clear=True)
        researcher_html = client.get(page).get_data(as_text=True)
        assert f"stopped: {NO_SPACE} {name}" in researcher_html, researcher_html[-3000:]
        for word in ("Traceback", "Errno", "errno", "OSError", str(settings.data_root)):
            assert word not in researcher_html, word
        with smtp.lock:
            bodies = {m["Subject"]: m.get_payload(decode=True).decode() if not m.is_multipart() else
                      m.get_payload(0).get_payload(decode=True).decode() for _, m in smtp.messages}  # fmt: skip
        assert NO_SPACE in bodies["lightserv: Raw data conversion FAILED: ana/brains/s1"]
        assert "Traceback" not in bodies[NOTICE]
        assert READY_EMAIL not in bodies

        # space freed: staff re-run each failed run from its first unfinished stage on the run log
        filler.unlink()
        processing.login(client, "pat")
        for run in first["runs"]:
            steps = sorted((j for j in first["jobs"] if j["run_id"] == run["run_id"]), key=lambda j: j["step_index"])
            stage = next(j["step_index"] for j in steps if j["state"] != "COMPLETED")
            resp = storage.post(client, f"/processing/run/{run['run_id']}/rerun", {"stage": str(stage), "confirm": "1"})
            assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]

        wait_for(lambda: emails_by_subject(smtp).get(READY_EMAIL), 300, "the raw-data-ready email",
                 lambda: str(state(app)["runs"]) + worker.log()[-3000:])  # fmt: skip
        end = state(app)
        # nothing lost, nothing doubled: one ready row per layer, one re-run per failed run, one job per stage
        assert sorted(x["layer_name"] for x in end["layers"]) == LAYERS
        assert {x["status"] for x in end["layers"]} == {"ready"}
        for layer in end["layers"]:
            assert (settings.data_root / layer["layer_path"] / "info").is_file()
        reruns = {r["run_id"]: r for r in end["runs"] if r["attempt"] == 2}
        assert len(end["runs"]) == 8 and len(reruns) == 4
        assert {r["superseded_by_run_id"] for r in end["runs"] if r["attempt"] == 1} == set(reruns)
        assert {r["status"] for r in reruns.values()} == {"succeeded"}
        assert {x["run_id"] for x in end["layers"]} == set(reruns)
        job_ids = [j["slurm_job_id"] for j in end["jobs"] if j["slurm_job_id"]]
        assert len(job_ids) == len(set(job_ids))
        for run_id in reruns:
            assert all(j["slurm_job_id"] and j["state"] == "COMPLETED" for j in end["jobs"] if j["run_id"] == run_id)
        assert emails_by_subject(smtp)[READY_EMAIL] == 1
