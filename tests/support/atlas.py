"""A synthetic atlas (lib.synth) swapped in for `allen_2017` for one test: its files where registration reads
them and its voxel size in the Atlas row, both put back afterwards (the processing and journey tests)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def synthetic_atlas_in_place(app, settings, brain, *, prepare: Callable[[Path, object], None] | None = None,
                             max_side: int = 64) -> Iterator[object]:  # fmt: skip
    """Yields the atlas truth (`lib.synth.write_atlas`); `prepare(folder, truth)` may add files (an overlay)."""
    from lib.synth import write_atlas
    from lightserv.db import get_schemas

    folder = settings.atlas_root / "allen_2017"
    saved = settings.atlas_root / "allen_2017.saved"
    if folder.exists():
        shutil.rmtree(saved, ignore_errors=True)
        folder.rename(saved)
    truth = write_atlas(folder, brain, max_side=max_side)
    if prepare is not None:
        prepare(folder, truth)
    keys = ("atlas_name", "voxel_x_um", "voxel_y_um", "voxel_z_um")
    with app.app_context():
        table = get_schemas().lightsheet.Atlas
        before = (table & {"atlas_name": "allen_2017"}).to_dicts()[0]
        vx, vy, vz = truth.voxel_size_um
        table.update1({"atlas_name": "allen_2017", "voxel_x_um": vx, "voxel_y_um": vy, "voxel_z_um": vz})
    try:
        yield truth
    finally:
        with app.app_context():
            get_schemas().lightsheet.Atlas.update1({k: before[k] for k in keys})
        shutil.rmtree(folder, ignore_errors=True)
        if saved.exists():
            saved.rename(folder)
