"""The demo's atlas: where no atlas is installed under ATLAS_ROOT, the product's small
synthetic atlas (template, annotation, ontology; lib.synth) takes the place of the default registration atlas,
with its Neuroglancer segmentation layer built by lib.precomputed, so registration and the atlas overlay
work end to end.

The synthetic atlas renders the anatomy of `demo_brain()`, the brain the processed demo sample is imaged
from, so registration has a known answer. An atlas the facility installed is left as it is.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from lib.precomputed import parse_params, run_stage
from lib.synth import Brain, make_brain, write_atlas
from lib.synth.atlas import ANNOTATION_NAME, METADATA_NAME, ONTOLOGY_NAME
from lightserv.db import get_schemas
from schemas.enums import ATLAS_LABELS

DEMO_ATLAS = "allen_2017"  # the atlas a new request registers to unless the researcher picks another
#: (z, y, x) planes x rows x columns: large enough to look like a brain in the viewer, small enough to keep
#: the seed (which processes it) short
BRAIN = {"shape": (96, 320, 256), "seed": 11, "voxel_size_um": (5.0, 5.0, 10.0), "n_cells": 150}
ATLAS_MAX_SIDE = 64
SYNTHETIC_NAME = "synthetic"  # the `name` lib.synth writes into atlas.json


@dataclass(frozen=True)
class AtlasState:
    name: str
    usable: bool  # registration can use it (files present, active)
    synthetic: bool
    message: str


def demo_brain() -> Brain:
    return make_brain(BRAIN["shape"], BRAIN["seed"], voxel_size_um=BRAIN["voxel_size_um"], n_cells=BRAIN["n_cells"])


def _metadata(folder: Path) -> dict:
    try:
        doc = json.loads((folder / METADATA_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def build_overlay(annotation: Path, ontology: Path, target: Path, voxel_um: tuple[float, float, float]) -> None:
    """The atlas's segmentation layer (labels and region names) at `target`, built aside and moved into
    place, so an interrupted build never leaves a half-written layer behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".building-", dir=target.parent) as work:
        layer = Path(work) / "layer"
        params = parse_params(
            {
                "layer_path": str(layer),
                "layer_type": "segmentation",
                "data_type": "uint32",
                "input_path": str(annotation),
                "progress_dir": str(Path(work) / "progress"),
                "voxel_size_nm": [v * 1000 for v in voxel_um],
                "num_scales": 1,
                "ontology_path": str(ontology),
            }
        )
        for stage in ("info", "upload", "segment_properties"):
            run_stage(stage, params)
        if target.exists():
            shutil.rmtree(target)
        os.replace(layer, target)


def ensure_demo_atlas(name: str = DEMO_ATLAS) -> AtlasState:
    """Install the synthetic atlas as `name` when neither its template nor its annotation exists; build its
    overlay layer if missing; keep the atlas row's voxel size equal to the synthetic atlas's (`init-db` resets
    it to the catalogue's). Idempotent."""
    from lightserv.processing.start import atlas_problem

    settings = current_app.config["SETTINGS"]
    root = Path(settings.atlas_root)
    table = get_schemas().lightsheet.Atlas
    row = (table & {"atlas_name": name}).to_dicts()[0]
    template, annotation = root / row["template_path"], root / row["annotation_path"]
    folder = template.parent
    label = ATLAS_LABELS.get(name, name)
    installed = False
    if not template.exists() and not annotation.exists():
        write_atlas(folder, demo_brain(), max_side=ATLAS_MAX_SIDE)
        installed = True
    metadata = _metadata(folder)
    if metadata.get("name") != SYNTHETIC_NAME:
        problem = atlas_problem(name)
        return AtlasState(name, problem is None, False, problem or f"{label}: the atlas installed in {folder}")
    vx, vy, vz = (float(v) for v in metadata["voxel_size_um"])
    overlay = root / row["precomputed_path"]
    if not (overlay / "info").is_file():
        build_overlay(folder / ANNOTATION_NAME, folder / ONTOLOGY_NAME, overlay, (vx, vy, vz))
    stored = (float(row["voxel_x_um"]), float(row["voxel_y_um"]), float(row["voxel_z_um"]))
    if not all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(stored, (vx, vy, vz), strict=True)):
        table.update1({"atlas_name": name, "voxel_x_um": vx, "voxel_y_um": vy, "voxel_z_um": vz})
    problem = atlas_problem(name)
    what = "installed" if installed else "in place"
    return AtlasState(name, problem is None, True, problem or f"{label}: synthetic atlas {what} in {folder}")
