"""Small synthetic LaVision acquisitions and their parameter documents, shared by the LaVision tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lib.synth import Brain, LavisionTruth, channel_look
from lib.synth.optics import CAMERA_OFFSET, GAIN

SUBFOLDER = "Ex_488_647"


def lavision_document(out_dir: Path, truth: LavisionTruth, **overrides: Any) -> dict[str, Any]:
    """The parameter document of one acquisition folder: its channels in ascending
    wavelength order get the indexes 00, 01, ... (the synthetic `Filter` numbers)."""
    roles = ["regch", "cellch", "cellch", "cellch"]
    columns, rows = truth.grid.tiling
    document = {
        "run_id": 7,
        "data_root": str(out_dir.parent),
        "output_dir": str(out_dir),
        "inputdictionary": {
            str(truth.out_dir): [[roles[k], f"{index:02d}"] for k, index in enumerate(sorted(truth.filters.values()))]
        },
        "xyz_scale_um": list(truth.voxel_size_um),
        "tiling_scheme": f"{columns}x{rows}",
        "tiling_overlap": truth.grid.overlap,
        "lightsheets": {sheet: sheet in truth.sheet_codes for sheet in ("left", "right")},
        "number_of_z_planes": truth.n_planes,
        "stitchingmethod": "terastitcher",
        "blendtype": "sigmoidal",
        "intensitycorrection": True,
        "resizefactor": 3,
        "planes_per_array_task": 50,
        "finalorientation": ["2", "1", "0"],
        "atlas_name": "allen_2017",
        "atlasfile": "",
        "annotationfile": "",
        "downsized_voxel_um": [19.23, 19.23, 19.23],
        "stages": ["setup", "stitch" if truth.grid.tiling != (1, 1) else "blend", "downsize"],
    }
    document.update(overrides)
    return document


def write_document(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def true_signal(brain: Brain, truth: LavisionTruth, wavelength: str, z: int) -> np.ndarray:
    """The noise-free signal of the whole canvas (the stitched plane without falloff, offset or gain)."""
    height, width = truth.grid.canvas_shape
    return brain.render(z, channel_look(wavelength), (0, height), (0, width), truth.raw_to_sample)


def true_sheet_plane(brain: Brain, truth: LavisionTruth, wavelength: str, sheet: str, z: int) -> np.ndarray:
    """What a perfect stitch of one sheet's tiles shows (noise-free camera counts)."""
    signal = true_signal(brain, truth, wavelength, z)
    return CAMERA_OFFSET + GAIN * signal * truth.sheet_profile(sheet)[None, :]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a).astype(float), np.ravel(b).astype(float))[0, 1])


def illumination_profile(plane: np.ndarray, signal: np.ndarray, min_signal: float = 0.3) -> np.ndarray:
    """Relative illumination per column: the median over rows of (counts − offset) / (gain × signal),
    where the tissue is bright enough; columns without tissue are left out."""
    ratio = (np.asarray(plane, dtype=float) - CAMERA_OFFSET) / (GAIN * np.maximum(signal, 1e-6))
    valid = signal > min_signal
    columns = [np.median(ratio[valid[:, x], x]) for x in range(plane.shape[1]) if valid[:, x].sum() >= 5]
    return np.asarray(columns)


def flatness(profile: np.ndarray) -> float:
    """Spread of an illumination profile relative to its mean (0 = perfectly flat)."""
    return float((profile.max() - profile.min()) / profile.mean())
