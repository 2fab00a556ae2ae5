"""The LaVision `register` and `detect` stages against a synthetic brain with known ground truth.

The inputs the earlier stages would write (downsized volumes with their sidecars, blended full-resolution
planes) are built here straight from `lib.synth`, so these tests do not depend on the lavision stages.
One sample is registered once per module, by the stage command run as a two-task array (both tasks at
once, as Slurm would start them); the tests then check what it wrote. No database, no app.
"""

from __future__ import annotations

import csv
import ctypes
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from lib.pipeline.errors import PipelineError
from lib.pipeline.layout import (
    cell_counts_csv,
    cells_csv,
    cells_registered_csv,
    downsized_volume,
    elastix_dir,
    full_size_dir,
    plane_name,
    registered_volume,
)
from lib.pipeline.params import LavisionParams
from lib.pipeline.registration import claim, run_detect, run_register
from lib.pipeline.registration.cells import DetectionSettings, PlaneStack, detect_cells
from lib.pipeline.registration.regions import count_by_region, read_ontology
from lib.pipeline.registration.transform import RegistrationTransform, apply_affine
from lib.pipeline.registration.volumes import DownsizedVolume, sidecar_path, write_sidecar
from lib.synth import AtlasTruth, Brain, channel_look, make_brain, write_atlas
from lib.synth.optics import noise_rng, to_counts

# itk's SWIG modules, loaded here by the in-process `run_register` calls, say so on Python 3.11+
pytestmark = pytest.mark.filterwarnings("ignore:builtin type .* has no __module__ attribute:DeprecationWarning")
ROOT = Path(__file__).resolve().parents[3]
PROG = [sys.executable, "-m", "lib.pipeline.registration"]

VOXEL_UM = (5.0, 5.0, 10.0)  # raw (x, y, z)
CELL_OPTIONS = {"cell_radius_um": 15.0}  # planted cells: sigma 1.5 px (7.5 µm), 1 plane (10 µm)
# horizontal -> sagittal: output x = raw z, y = raw y, z = raw x
SAGITTAL = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


@dataclass
class Sample:
    brain: Brain
    atlas: AtlasTruth
    params_path: Path
    params: LavisionParams
    timings: dict[str, float]


def noisy(brain: Brain, wavelength: str) -> np.ndarray:
    clean = brain.volume(channel_look(wavelength))
    return np.stack(
        [to_counts(plane, noise_rng(brain.seed, int(wavelength), z), 10.0) for z, plane in enumerate(clean)]
    )


def write_downsized(path: Path, raw: np.ndarray, downsized_voxel_um: float) -> np.ndarray:
    """What the downsize stage writes: the raw (z, y, x) stack turned sagittal, resampled to the downsized
    voxel (anti-aliased, voxel centres aligned at index 0), plus its sidecar. Returns full_to_downsized."""
    oriented = raw.transpose(2, 1, 0).astype(np.float32)  # (raw x, raw y, raw z) = sagittal (z, y, x)
    oriented_voxel = np.array([VOXEL_UM[2], VOXEL_UM[1], VOXEL_UM[0]])  # sagittal (x, y, z)
    scale = oriented_voxel / downsized_voxel_um  # oriented index -> downsized index
    size_xyz = np.floor((np.array(oriented.shape[::-1]) - 1) * scale + 1e-9).astype(int) + 1
    blur = np.maximum(0.0, 1 / scale - 1) * 0.5
    smooth = ndimage.gaussian_filter(oriented, blur[::-1])
    volume = ndimage.affine_transform(smooth, 1 / scale[::-1], output_shape=tuple(size_xyz[::-1]), order=1)
    tifffile.imwrite(path, np.clip(np.rint(volume), 0, 65535).astype(np.uint16), photometric="minisblack")
    full_to_downsized = np.diag([*scale, 1.0]) @ SAGITTAL
    write_sidecar(path, (downsized_voxel_um,) * 3, volume.shape, full_to_downsized)
    return full_to_downsized


def write_planes(folder: Path, volume: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for z, plane in enumerate(volume):
        tifffile.imwrite(folder / plane_name(z), plane, photometric="minisblack")


def make_sample(root: Path) -> Sample:
    brain = make_brain((40, 120, 120), seed=3, voxel_size_um=VOXEL_UM, n_cells=60)
    atlas = write_atlas(root / "atlas", brain, max_side=80)
    downsized_um = atlas.voxel_size_um[0] / 1.3
    out = root / "output"
    document = {
        "run_id": 1,
        "output_dir": str(out),
        "inputdictionary": {str(root / "raw" / "Sample_488_647"): [["regch", "00"], ["cellch", "01"]]},
        "xyz_scale_um": list(VOXEL_UM),
        "number_of_z_planes": brain.shape[0],
        "finalorientation": ["2", "1", "0"],
        "atlas_name": "synthetic",
        "atlasfile": str(atlas.template_path),
        "annotationfile": str(atlas.annotation_path),
        "ontologyfile": str(atlas.ontology_path),
        "downsized_voxel_um": [downsized_um] * 3,
        "cell_detection": CELL_OPTIONS,
        "stages": ["setup", "blend", "downsize", "register", "detect"],
    }
    params = LavisionParams.from_document(document)
    out.mkdir(parents=True)
    for channel, wavelength in zip(params.channels, ("488", "647"), strict=True):
        raw = noisy(brain, wavelength)
        write_downsized(downsized_volume(out, channel), raw, downsized_um)
        if channel.role == "cellch":
            write_planes(full_size_dir(out, channel), raw)
    params_path = out / "params.json"
    params_path.write_text(json.dumps(document))
    return Sample(brain, atlas, params_path, params, {})


def run_stage(stage: str, params_path: Path, tasks: int) -> tuple[float, list[subprocess.CompletedProcess[str]]]:
    """All tasks of an array stage at once, as subprocesses; wall time and results."""
    started = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    running = [
        subprocess.Popen(
            [*PROG, stage, "--params", str(params_path), "--task-index", str(k), "--task-count", str(tasks)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(tasks)
    ]
    results = []
    for process in running:
        stdout, stderr = process.communicate(timeout=600)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    return time.monotonic() - started, results


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return make_sample(tmp_path_factory.mktemp("registration"))


@pytest.fixture(scope="module")
def registered(sample: Sample) -> Sample:
    """`register` as a two-task array (task 0: ch00 regch, task 1: ch01 cellch), then `detect`."""
    seconds, results = run_stage("register", sample.params_path, tasks=2)
    for result in results:
        assert result.returncode == 0, result.stderr
    sample.timings["register"] = seconds
    seconds, results = run_stage("detect", sample.params_path, tasks=1)
    assert results[0].returncode == 0, results[0].stderr
    sample.timings["detect"] = seconds
    print(f"\nregister {sample.timings['register']:.1f} s, detect {sample.timings['detect']:.1f} s")
    return sample


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream))


def points_of(rows: list[dict[str, str]]) -> np.ndarray:
    return np.array([[float(r["x"]), float(r["y"]), float(r["z"])] for r in rows]).reshape(-1, 3)


def match(found: np.ndarray, truth: np.ndarray, radius: float) -> list[tuple[int, int]]:
    """One-to-one pairs (found index, truth index) closer than `radius`, minimising the total distance."""
    distance = np.linalg.norm(found[:, None, :] - truth[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(np.where(distance <= radius, distance, 1e6))
    return [(r, c) for r, c in zip(rows, cols, strict=True) if distance[r, c] <= radius]


# --- register -------------------------------------------------------------------------------------------


def test_register_writes_the_transforms_and_16_bit_volumes_of_every_channel_in_atlas_space(registered):
    out, atlas = registered.params.output_dir, registered.atlas
    folder = elastix_dir(out)
    for name in ("TransformParameters.0.txt", "TransformParameters.1.txt", "registration.json", "elastix.log"):
        assert (folder / name).is_file(), name
    assert not (folder / "registration.lock").exists()
    assert not list(folder.glob(".work-*"))
    template = tifffile.imread(atlas.template_path).astype(np.float64)
    brain_mask = tifffile.imread(atlas.annotation_path) > 0
    for channel in registered.params.channels:
        path = registered_volume(out, channel, channel.role)
        with tifffile.TiffFile(path) as tif:
            assert len(tif.pages) == atlas.shape[0]
            volume = tif.asarray()
        assert volume.dtype == np.uint16 and volume.shape == atlas.shape
        correlation = np.corrcoef(volume[brain_mask].astype(np.float64), template[brain_mask])[0, 1]
        assert correlation > (0.8 if channel.role == "regch" else 0.3), (channel, correlation)


def test_register_recovers_the_known_sample_to_atlas_affine_within_one_atlas_voxel(registered):
    out, atlas, brain = registered.params.output_dir, registered.atlas, registered.brain
    transform = RegistrationTransform.load(elastix_dir(out))
    full_to_downsized = np.array(
        json.loads(Path(f"{downsized_volume(out, registered.params.channels[0])}.json").read_text())[
            "full_to_downsized"
        ]
    )
    # landmarks: the planted cells and a grid over the brain (raw voxels)
    grid = np.stack(np.meshgrid(*(np.linspace(0.15, 0.85, 6) * (n - 1) for n in brain.shape[::-1])), -1).reshape(-1, 3)
    inside = np.linalg.norm(apply_affine(brain.sample_vox_to_u, grid), axis=1) < 0.9
    landmarks = np.concatenate([brain.cells_xyz, grid[inside]])
    found = transform.downsized_to_atlas(apply_affine(full_to_downsized, landmarks))
    error = np.linalg.norm(found - apply_affine(atlas.sample_to_atlas_vox, landmarks), axis=1)
    print(f"\nlandmark error (atlas voxels): mean {error.mean():.2f}, max {error.max():.2f}, n {len(error)}")
    assert error.mean() <= 1.0
    assert error.max() <= 2.5
    # the two directions are inverse to each other
    back = transform.atlas_to_downsized(found)
    assert np.abs(back - apply_affine(full_to_downsized, landmarks)).max() < 0.01


def test_a_second_register_run_reuses_the_finished_registration(registered):
    started = time.monotonic()
    line = run_register(json.loads(registered.params_path.read_text()), 0, 2)
    assert "registration of ch00 ready" in line
    assert time.monotonic() - started < 10


def test_the_registering_task_resamples_every_channel_and_a_channel_downsized_anew_is_resampled_again(registered):
    out, channel = registered.params.output_dir, registered.params.channels[1]
    document = json.loads(registered.params_path.read_text())
    record = json.loads((elastix_dir(out) / "registration.json").read_text())
    assert set(record["resampled"]) == {channel.index}
    target = registered_volume(out, channel, channel.role)
    written = target.stat().st_mtime_ns
    assert run_register(document, 1, 2).startswith("registration of ch00 ready, ch01 in atlas space")
    assert target.stat().st_mtime_ns == written  # the same downsized volume: nothing to do again
    os.utime(downsized_volume(out, channel))  # the downsize stage ran again for this channel
    assert run_register(document, 1, 2).startswith("registration of ch00 ready, ch01 in atlas space")
    assert target.stat().st_mtime_ns > written
    assert not list(elastix_dir(out).glob(".work-*"))


# --- detect ---------------------------------------------------------------------------------------------


def test_detected_cells_match_the_planted_cells_with_precision_and_recall_of_at_least_90_percent(registered):
    channel = registered.params.channels[1]
    rows = read_rows(cells_csv(registered.params.output_dir, channel))
    assert rows and set(rows[0]) == {"x", "y", "z", "score"}
    found, truth = points_of(rows), registered.brain.cells_xyz
    pairs = match(found * VOXEL_UM, truth * VOXEL_UM, radius=12.0)  # µm
    precision, recall = len(pairs) / len(found), len(pairs) / len(truth)
    print(f"\ndetection: {len(found)} found, {len(truth)} planted, precision {precision:.2f}, recall {recall:.2f}")
    assert precision >= 0.9 and recall >= 0.9


def test_cells_land_in_their_atlas_region_and_the_counts_per_region_match(registered):
    out, atlas, channel = registered.params.output_dir, registered.atlas, registered.params.channels[1]
    found = points_of(read_rows(cells_csv(out, channel)))
    placed = read_rows(cells_registered_csv(out, channel))
    assert len(placed) == len(found) and set(placed[0]) == {"x", "y", "z", "region_id"}
    regions = np.array([int(r["region_id"]) for r in placed])
    pairs = match(found * VOXEL_UM, registered.brain.cells_xyz * VOXEL_UM, radius=12.0)
    right = sum(regions[f] == atlas.cell_region_ids[t] for f, t in pairs)
    print(f"\nregions: {right} of {len(pairs)} matched cells in the planted cell's region")
    assert right >= 0.9 * len(pairs)
    counts = {
        int(r["region_id"]): (r["region_name"], int(r["count"])) for r in read_rows(cell_counts_csv(out, channel))
    }
    assert sum(count for _, count in counts.values()) == len(found)
    names = read_ontology(atlas.ontology_path)
    assert all(name == names.get(region, "outside the brain") for region, (name, _) in counts.items())
    expected = Counter(int(r) for r in atlas.cell_region_ids)
    difference = sum(
        abs(counts.get(region, ("", 0))[1] - expected.get(region, 0)) for region in set(counts) | set(expected)
    )
    assert difference <= 0.1 * len(registered.brain.cells_xyz), (counts, expected)


def test_detection_does_not_depend_on_the_slab_depth(tmp_path):
    brain = make_brain((30, 64, 64), seed=4, voxel_size_um=VOXEL_UM, n_cells=20)
    write_planes(tmp_path, noisy(brain, "647"))
    stack = PlaneStack(tmp_path)
    settings = DetectionSettings.from_options(CELL_OPTIONS, VOXEL_UM)
    whole, whole_scores, noise = detect_cells(stack, settings, slab_planes=len(stack))
    sliced, sliced_scores, _ = detect_cells(stack, settings, slab_planes=4)
    order_whole, order_sliced = np.lexsort(whole.T), np.lexsort(sliced.T)
    assert settings.reach_z < 30 and len(whole) >= 18
    np.testing.assert_allclose(sliced[order_sliced], whole[order_whole], atol=1e-4)
    np.testing.assert_allclose(sliced_scores[order_sliced], whole_scores[order_whole], rtol=1e-4)


def test_counts_are_named_from_the_ontology_and_listed_most_cells_first():
    names_by_id = {997: "root", 8: "Basic cell groups and regions", 688: "Cerebral cortex"}
    assert count_by_region([688, 688, 8, 0, 5], names_by_id) == [
        (688, "Cerebral cortex", 2),
        (0, "outside the brain", 1),
        (5, "unknown", 1),
        (8, "Basic cell groups and regions", 1),
    ]


def test_an_allen_structure_graph_is_read_with_its_nested_children(tmp_path):
    graph = {
        "msg": [
            {"id": 997, "name": "root", "children": [{"id": 8, "name": "Basic cell groups", "children": [
                {"id": 688, "name": "Cerebral cortex", "children": []}]}]}
        ]
    }  # fmt: skip
    path = tmp_path / "ontology.json"
    path.write_text(json.dumps(graph))
    assert read_ontology(path) == {997: "root", 8: "Basic cell groups", 688: "Cerebral cortex"}


# --- one registration per run, whichever task arrives first ---------------------------------------------


def test_a_waiting_task_breaks_a_stale_lock_and_does_the_work_itself(tmp_path):
    lock = tmp_path / claim.LOCK_NAME
    lock.write_text("killed holder")  # nobody touches it any more
    started = time.monotonic()
    record, did_it = claim.once(
        tmp_path, "done.json", {"inputs": 1}, lambda held: {"n": 1}, poll_s=0.05, stale_after_s=0.3
    )
    assert time.monotonic() - started >= 0.3
    assert did_it and record == {"n": 1, "fingerprint": {"inputs": 1}}
    assert not lock.exists()
    # the same inputs again: reused; other inputs: done anew
    assert claim.once(tmp_path, "done.json", {"inputs": 1}, lambda held: {"n": 2}) == (record, False)
    assert claim.once(tmp_path, "done.json", {"inputs": 2}, lambda held: {"n": 3})[0]["n"] == 3


WAITER = """
import json, os, sys, time
from pathlib import Path
from lib.pipeline.registration import claim
folder = Path(sys.argv[1])
(folder / "waiter-ready").touch()
while not (folder / claim.LOCK_NAME).exists():
    time.sleep(0.01)
record, did_it = claim.once(folder, "done.json", {"inputs": 1}, lambda held: {"by": "waiter"},
                            poll_s=0.05, stale_after_s=0.6)
print(json.dumps({"by": record["by"], "did_it": did_it}))
"""


def test_a_waiting_task_leaves_the_lock_alone_while_the_working_task_holds_the_gil(tmp_path):
    """itk-elastix holds Python's GIL for a whole registration; the lock must stay fresh all the same."""
    waiter = subprocess.Popen(
        [sys.executable, "-c", WAITER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    while not (tmp_path / "waiter-ready").exists():
        assert waiter.poll() is None, "the waiting task ended early"
        time.sleep(0.01)

    def register(held: claim.Claim) -> dict:
        with held.kept_fresh(every_s=0.1):
            ctypes.PyDLL(None).usleep(2_500_000)  # C code holding the GIL, four times the stale limit
        return {"by": "worker"}

    record, did_it = claim.once(tmp_path, "done.json", {"inputs": 1}, register)
    assert did_it and record["by"] == "worker"
    stdout, _ = waiter.communicate(timeout=30)
    assert json.loads(stdout) == {"by": "worker", "did_it": False}


def test_waiting_tasks_fail_with_the_reason_when_the_working_task_fails(tmp_path):
    def failing(held: claim.Claim) -> dict:
        time.sleep(0.5)
        raise PipelineError("the atlas template is empty")

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(claim.once, tmp_path, "done.json", {"inputs": 1}, failing, poll_s=0.05)
        time.sleep(0.1)
        second = pool.submit(claim.once, tmp_path, "done.json", {"inputs": 1}, failing, poll_s=0.05)
        with pytest.raises(PipelineError, match="the atlas template is empty"):
            first.result()
        with pytest.raises(PipelineError, match="failed in another task of this stage: the atlas template is empty"):
            second.result()
    assert not (tmp_path / claim.LOCK_NAME).exists()


# --- bad input ------------------------------------------------------------------------------------------


def bad_document(sample: Sample, **changes: object) -> dict:
    document = json.loads(sample.params_path.read_text())
    document.update(changes)
    return document


def test_register_refuses_a_missing_downsized_volume(sample, tmp_path):
    document = bad_document(sample, output_dir=str(tmp_path))
    with pytest.raises(PipelineError, match="downsized volume .* does not exist"):
        run_register(document, 0, 2)


def test_register_refuses_a_missing_atlas_template(sample, tmp_path):
    document = bad_document(sample, atlasfile=str(tmp_path / "nowhere.tif"))
    with pytest.raises(PipelineError, match="atlas template .*nowhere.tif does not exist"):
        run_register(document, 0, 2)


def test_detect_refuses_a_missing_annotation_and_an_unfinished_registration(sample, tmp_path):
    with pytest.raises(PipelineError, match="atlas annotation .* does not exist"):
        run_detect(bad_document(sample, annotationfile=str(tmp_path / "none.tif")), 0, 1)
    fresh = tmp_path / "fresh"
    shutil.copytree(sample.params.output_dir / "full_sizedatafld", fresh / "full_sizedatafld")
    with pytest.raises(PipelineError, match="no finished registration"):
        run_detect(bad_document(sample, output_dir=str(fresh)), 0, 1)


def test_the_stage_command_exits_2_with_one_sentence_for_bad_input(sample, tmp_path):
    params_path = tmp_path / "params.json"
    params_path.write_text(json.dumps(bad_document(sample, atlasfile=str(tmp_path / "missing_atlas.tif"))))
    _, results = run_stage("register", params_path, tasks=1)
    assert results[0].returncode == 2
    assert "error: the atlas template" in results[0].stderr and "Traceback" not in results[0].stderr


def test_a_downsized_volume_needs_a_complete_sidecar_for_detection(sample, tmp_path):
    volume = tmp_path / "volume.tif"
    shutil.copyfile(downsized_volume(sample.params.output_dir, sample.params.channels[0]), volume)
    with pytest.raises(PipelineError, match="description .*volume.tif.json does not exist"):
        DownsizedVolume.open(volume)
    assert DownsizedVolume.open(volume, (20.0, 20.0, 20.0)).full_to_downsized is None  # register's fallback
    sidecar_path(volume).write_text(json.dumps({"voxel_size_um": [20, 20, 20], "shape_zyx": [1, 2, 3]}))
    with pytest.raises(PipelineError, match="full_to_downsized must be an invertible 4x4 affine"):
        DownsizedVolume.open(volume)
