"""A killed upload task resumes where it stopped: finished slabs keep their markers and their chunk files
are not written again; the final layer is right."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import tifffile

from tests.support.waiting import wait_for

from .conftest import ROOT, as_xyz, read_cloudvolume, read_tensorstore, run_stage, write_planes


def snapshot(folder):
    return {p.relative_to(folder): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_a_killed_upload_task_resumes_without_redoing_finished_slabs(tmp_path, rng):
    volume = rng.integers(0, 65536, size=(24, 33, 45), dtype=np.uint16)
    planes = write_planes(tmp_path / "planes", volume)
    layer, progress = tmp_path / "layer", tmp_path / "progress"
    params = tmp_path / "params.json"
    params.write_text(
        json.dumps(
            {"layer_path": str(layer), "input_path": str(planes), "progress_dir": str(progress),
             "voxel_size_nm": [4000, 4000, 4000], "chunk_size": [16, 16, 2], "downsample_chunk_size": [8, 8, 2]}
        )
    )  # fmt: skip
    assert run_stage("info", params, tasks=1).ok

    # Plane 13 becomes a pipe with no writer: the middle task (slabs 8-10 .. 14-16) blocks reading it
    # after finishing two slabs, and is killed there.
    (planes / "plane_13.tif").unlink()
    os.mkfifo(planes / "plane_13.tif")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "lib.precomputed", "upload", "--params", str(params),
             "--task-index", str(k), "--task-count", "3"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for k in range(3)
    ]  # fmt: skip
    try:
        assert procs[0].wait(timeout=60) == 0 and procs[2].wait(timeout=60) == 0
        wait_for(lambda: (progress / "upload" / "10-12").is_file(), 60, "the first uploaded chunk", interval=0.05)
        time.sleep(0.3)
        assert procs[1].poll() is None, "the middle task should be blocked on the pipe"
    finally:
        procs[1].send_signal(signal.SIGKILL)
        for p in procs:
            p.communicate(timeout=30)
    assert procs[1].returncode == -signal.SIGKILL

    done_before = sorted(p.name for p in (progress / "upload").iterdir())
    assert "12-14" not in done_before and "14-16" not in done_before
    assert {"8-10", "10-12", "0-2", "22-24"} <= set(done_before)
    markers_before, chunks_before = snapshot(progress / "upload"), snapshot(layer / "4000_4000_4000")

    (planes / "plane_13.tif").unlink()
    tifffile.imwrite(planes / "plane_13.tif", volume[13])
    rerun = run_stage("upload", params)
    assert rerun.ok, rerun.stderr
    assert "0 written, 4 already done" in rerun.stdout[0]
    assert "2 written, 2 already done" in rerun.stdout[1]

    markers_after, chunks_after = snapshot(progress / "upload"), snapshot(layer / "4000_4000_4000")
    assert {k: markers_after[k] for k in markers_before} == markers_before
    assert {k: chunks_after[k] for k in chunks_before if not k.name.endswith(("12-14", "14-16"))} == {
        k: v for k, v in chunks_before.items() if not k.name.endswith(("12-14", "14-16"))
    }
    assert sorted(p.name for p in (progress / "upload").iterdir()) == sorted(f"{z}-{z + 2}" for z in range(0, 24, 2))
    np.testing.assert_array_equal(read_cloudvolume(layer, 0), as_xyz(volume))
    np.testing.assert_array_equal(read_tensorstore(layer, 0), as_xyz(volume))


def test_a_rerun_downsample_skips_every_finished_slab_and_redoes_a_lost_one(tmp_path, rng):
    volume = rng.integers(0, 65536, size=(12, 20, 30), dtype=np.uint16)
    layer, progress = tmp_path / "layer", tmp_path / "progress"
    params = tmp_path / "params.json"
    params.write_text(
        json.dumps(
            {"layer_path": str(layer), "input_path": str(write_planes(tmp_path / "planes", volume)),
             "progress_dir": str(progress), "voxel_size_nm": [4000, 4000, 4000], "chunk_size": [16, 16, 2],
             "downsample_chunk_size": [8, 8, 2]}
        )
    )  # fmt: skip
    for stage in ("info", "upload", "downsample"):
        assert run_stage(stage, params).ok
    first = read_cloudvolume(layer, 1)

    (progress / "downsample" / "mip1" / "2-4").unlink()  # as if the task died after writing, before marking
    rerun = run_stage("downsample", params)
    assert rerun.ok
    assert sum(int(out.split(": ")[2].split(" written")[0]) for out in rerun.stdout) == 1
    np.testing.assert_array_equal(read_cloudvolume(layer, 1), first)
