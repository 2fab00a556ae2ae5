"""The whole product as it runs (issue 11): configurable-http-proxy in front of gunicorn, a Celery worker and
Celery beat on the test Redis, the cluster engine on the session's one-node Slurm (`SLURM_TRANSPORT=local`),
the viewer-launcher's `process` back end, and a small synthetic atlas installed as `allen_2017` (template,
annotation, ontology and its prebuilt precomputed overlay). Each fixture skips, naming the component, when
that component cannot be provisioned."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.support import processes
from tests.support.atlas import synthetic_atlas_in_place
from tests.support.launcher import product_behind_proxy, viewer_settings_for
from tests.support.slurm import SlurmCluster, Unavailable

#: every stage (pipelines and conversions) shrunk to fit the 2-core test node
STAGE_RESOURCES = {"*": {"cpus": 1, "mem_gb": 2, "time_limit": "00:20:00"}}
POLL_SECONDS = 2


@dataclass
class Stack:
    """The running product: its public address (the proxy) and the programs behind it."""

    base: str
    proxy: object
    procs: list[processes.Proc] = field(default_factory=list)

    def logs(self, chars: int = 3000) -> str:
        """The tails of the programs' logs, for failure messages."""
        return "\n".join(f"--- {p.name}:\n{p.log()[-chars:]}" for p in self.procs)


@pytest.fixture
def synthetic_atlas(app, settings) -> Iterator[tuple[object, object]]:
    """A small synthetic atlas (lib.synth) in place of allen_2017: the files registration reads, its voxel size
    in the Atlas row, and its precomputed overlay (segmentation with region names) built by lib.precomputed as
    an admin installs it; all restored afterwards. Yields (brain, truth): the LaVision sample is this brain."""
    import numpy as np
    import tifffile

    from lib.precomputed import parse_params, run_stage
    from lib.synth import make_brain

    brain = make_brain((32, 96, 96), seed=11, voxel_size_um=(5.0, 5.0, 10.0), n_cells=25)

    def overlay(folder, truth) -> None:  # the precomputed segmentation with region names, as an admin installs it
        work = settings.atlas_root / ".allen_2017-overlay-work"
        work.mkdir(parents=True, exist_ok=True)
        labels = work / "annotation_uint32.tif"
        tifffile.imwrite(labels, tifffile.imread(truth.annotation_path).astype(np.uint32), photometric="minisblack")
        voxel_nm = [v * 1000.0 for v in truth.voxel_size_um]
        params = parse_params({"layer_path": str(folder / "precomputed"), "layer_type": "segmentation",
                               "data_type": "uint32", "input_path": str(labels),
                               "progress_dir": str(work / "progress"), "voxel_size_nm": voxel_nm, "num_scales": 1,
                               "ontology_path": str(truth.ontology_path)})  # fmt: skip
        for stage in ("info", "upload", "segment_properties"):
            run_stage(stage, params)
        shutil.rmtree(work, ignore_errors=True)

    with synthetic_atlas_in_place(app, settings, brain, prepare=overlay) as truth:
        yield brain, truth


@pytest.fixture
def stack(
    app,
    settings,
    settings_overrides,
    slurm_cluster,
    launcher_service,
    chp,
    browser,
    monkeypatch,
    tmp_path,
) -> Iterator[Stack]:
    """The session's configurable-http-proxy (the public address, web application behind it), gunicorn, a Celery
    worker and Celery beat (polling Slurm every 2 s), all on the test databases, the session's Slurm and the
    real viewer launcher. Data written under DATA_ROOT by the journey is removed afterwards."""

    if isinstance(slurm_cluster, Unavailable):
        pytest.skip(f"Slurm unavailable: {str(slurm_cluster).splitlines()[0]}")
    assert isinstance(slurm_cluster, SlurmCluster)
    viewer = viewer_settings_for(launcher_service, chp)
    cluster = dict(cluster_backend="slurm", slurm_transport="local", slurm_poll_seconds=POLL_SECONDS,
                   slurm_stage_resources=json.dumps(STAGE_RESOURCES), processing_python=sys.executable)  # fmt: skip
    for key, value in {**viewer, "slurm_stage_resources": STAGE_RESOURCES}.items():
        monkeypatch.setattr(settings, key, value)  # the in-process app agrees with the programs
    env = processes.env_for({**settings_overrides, **viewer, **cluster})
    env["SLURM_CONF"] = str(slurm_cluster.conf)
    try:
        # a worker with two processes, so that a viewer launch never waits behind a poll
        with product_behind_proxy(chp, env, tmp_path, worker="e2e-worker", concurrency=2, beat=True) as procs:
            yield Stack(chp.public_url, chp, procs)
    finally:
        slurm_cluster.run("scancel", "--quiet", "--user", str(os.getuid()), timeout=20)
        shutil.rmtree(settings.data_root / "rita", ignore_errors=True)
