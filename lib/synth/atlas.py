"""A small synthetic atlas shaped like the Allen CCF files the pipeline registers to: a 16-bit template
(multi-page TIFF, pages = z), a 16-bit annotation (label) volume on the same grid, an ontology JSON, and
`atlas.json` describing the grid. It renders the same analytic anatomy as a `Brain`, so the brain's
sample-to-atlas affine is the exact answer registration should find.

Atlas axes (sagittal): x = dorsal-ventral, y = anterior-posterior, z = medial-lateral; volumes are indexed
(z, y, x); voxel (x, y, z) sits at µm = (index - (n - 1) / 2) × voxel, i.e. the brain centre is the grid
centre.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tifffile

from .anatomy import affine_plane, label_ids, ontology_json
from .brain import Brain, Matrix, Points, apply_affine, scale_matrix

TEMPLATE_NAME = "template.tif"
ANNOTATION_NAME = "annotation.tif"
ONTOLOGY_NAME = "ontology.json"
METADATA_NAME = "atlas.json"
TEMPLATE_SCALE = 1000.0  # template counts per unit of structure signal
AXES = {"x": "dorsal-ventral", "y": "anterior-posterior", "z": "medial-lateral"}


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields, not objects
class AtlasTruth:
    out_dir: Path
    template_path: Path
    annotation_path: Path
    ontology_path: Path
    metadata_path: Path
    voxel_size_um: tuple[float, float, float]  # isotropic
    shape: tuple[int, int, int]  # (z, y, x)
    region_ids: tuple[int, ...]  # labels present in the annotation (0 = outside the brain)
    atlas_vox_to_um: Matrix = field(repr=False)
    sample_to_atlas_vox: Matrix = field(repr=False)  # dorsal sample voxel (x, y, z) -> atlas voxel (x, y, z)
    cells_xyz: Points = field(repr=False)  # the brain's planted cells in atlas voxels
    cell_region_ids: npt.NDArray[np.int64] = field(repr=False)  # annotation label at each cell

    def raw_to_atlas_vox(self, raw_to_atlas_um: Matrix) -> Matrix:
        """Compose an acquisition's raw-to-atlas-µm transform (from its truth) into atlas voxels."""
        return np.asarray(np.linalg.inv(self.atlas_vox_to_um) @ raw_to_atlas_um, dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "template": self.template_path.name,
            "annotation": self.annotation_path.name,
            "ontology": self.ontology_path.name,
            "voxel_size_um": list(self.voxel_size_um),
            "shape_zyx": list(self.shape),
            "region_ids": list(self.region_ids),
            "sample_to_atlas_vox": self.sample_to_atlas_vox.tolist(),
            "cells_xyz": self.cells_xyz.tolist(),
            "cell_region_ids": self.cell_region_ids.tolist(),
        }


def atlas_grid(brain: Brain, max_side: int, margin: float) -> tuple[tuple[int, int, int], float, Matrix]:
    """Shape (z, y, x), isotropic voxel size and voxel-to-µm affine of an atlas holding the anatomy."""
    semi = brain.anatomy.semi_axes_um
    voxel = 2 * max(semi) * margin / max_side
    nx, ny, nz = (max(4, math.ceil(2 * s * margin / voxel - 1e-9)) for s in semi)
    to_um = scale_matrix((voxel, voxel, voxel))
    to_um[:3, 3] = [-(nx - 1) / 2 * voxel, -(ny - 1) / 2 * voxel, -(nz - 1) / 2 * voxel]
    return (nz, ny, nx), voxel, to_um


def write_atlas(out_dir: Path, brain: Brain, *, max_side: int = 96, margin: float = 1.15) -> AtlasTruth:
    """Write template, annotation, ontology and metadata for `brain`'s anatomy; the longest atlas axis
    has `max_side` voxels. Returns paths, the sample-to-atlas transform and the cells in atlas space."""
    shape, voxel, to_um = atlas_grid(brain, max_side, margin)
    nz, ny, nx = shape
    semi = brain.anatomy.semi_axes_um
    to_u = scale_matrix((1 / semi[0], 1 / semi[1], 1 / semi[2])) @ to_um
    template = np.zeros(shape, dtype=np.uint16)
    annotation = np.zeros(shape, dtype=np.uint16)
    for z in range(nz):
        u = affine_plane(to_u, z, (0, ny), (0, nx))
        structure = brain.anatomy.structure(u)
        template[z] = np.clip(np.rint(structure * TEMPLATE_SCALE), 0, 65535).astype(np.uint16)
        annotation[z] = brain.anatomy.labels(u)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / name for name in (TEMPLATE_NAME, ANNOTATION_NAME, ONTOLOGY_NAME, METADATA_NAME)}
    tifffile.imwrite(paths[TEMPLATE_NAME], template, photometric="minisblack")
    tifffile.imwrite(paths[ANNOTATION_NAME], annotation, photometric="minisblack")
    paths[ONTOLOGY_NAME].write_text(json.dumps(ontology_json(), indent=1) + "\n")
    metadata = {
        "name": "synthetic",
        "voxel_size_um": [voxel, voxel, voxel],
        "shape_zyx": list(shape),
        "axes": AXES,
        "template": TEMPLATE_NAME,
        "annotation": ANNOTATION_NAME,
        "ontology": ONTOLOGY_NAME,
        "labels": [label for label in label_ids() if label],
    }
    paths[METADATA_NAME].write_text(json.dumps(metadata, indent=1) + "\n")
    sample_to_atlas_vox = np.linalg.inv(to_um) @ brain.sample_to_atlas_um @ scale_matrix(brain.voxel_size_um)
    cells = apply_affine(sample_to_atlas_vox, brain.cells_xyz)
    index = np.clip(np.rint(cells).astype(np.int64), 0, np.array([nx - 1, ny - 1, nz - 1]))
    cell_regions = annotation[index[:, 2], index[:, 1], index[:, 0]].astype(np.int64)
    return AtlasTruth(
        out_dir=out_dir,
        template_path=paths[TEMPLATE_NAME],
        annotation_path=paths[ANNOTATION_NAME],
        ontology_path=paths[ONTOLOGY_NAME],
        metadata_path=paths[METADATA_NAME],
        voxel_size_um=(voxel, voxel, voxel),
        shape=shape,
        region_ids=tuple(int(v) for v in np.unique(annotation)),
        atlas_vox_to_um=to_um,
        sample_to_atlas_vox=np.asarray(sample_to_atlas_vox, dtype=np.float64),
        cells_xyz=cells,
        cell_region_ids=cell_regions,
    )
