"""Plane-by-plane writing keeps memory bounded by a plane, not by the stack."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from lib.synth import make_brain, noise_pattern, ramp_pattern, write_lavision, write_plane_stack

from .helpers import read

ROOT = Path(__file__).resolve().parents[3]
MiB = 2**20


def test_a_ramp_stack_has_one_named_file_per_plane_with_the_expected_values(tmp_path):
    stack = write_plane_stack(tmp_path, (5, 32, 48), np.uint16, "ramp", name_format="plane_{z:03d}.tif")
    assert [p.name for p in stack.files] == [f"plane_{z:03d}.tif" for z in range(5)]
    assert stack.nbytes == 5 * 32 * 48 * 2
    pattern = ramp_pattern((5, 32, 48))
    for z in (0, 4):
        plane = read(stack.files[z])
        assert plane.dtype == np.uint16
        np.testing.assert_array_equal(plane, pattern(z))
    assert read(stack.files[1])[3, 4] == 3 + 4 + 7


def test_noise_stacks_are_reproducible_and_any_callable_is_a_pattern(tmp_path):
    first = write_plane_stack(tmp_path / "a", (3, 16, 16), "uint16", "noise", seed=4)
    second = write_plane_stack(tmp_path / "b", (3, 16, 16), "uint16", noise_pattern((3, 16, 16), np.uint16, seed=4))
    for a, b in zip(first.files, second.files, strict=True):
        assert a.read_bytes() == b.read_bytes()
    custom = write_plane_stack(tmp_path / "c", (2, 8, 8), np.float32, lambda z: np.full((8, 8), z + 0.5))
    assert read(custom.files[1]).dtype == np.float32 and read(custom.files[1])[0, 0] == 1.5


def test_a_pattern_with_the_wrong_plane_shape_is_refused(tmp_path):
    with pytest.raises(ValueError, match="expected"):
        write_plane_stack(tmp_path, (2, 8, 8), np.uint16, lambda z: np.zeros((4, 4)))


def test_stack_writing_holds_a_few_planes_at_most(tmp_path):
    shape = (48, 512, 512)  # 24 MiB of uint16
    plane_bytes = 512 * 512 * 2
    tracemalloc.start()
    try:
        write_plane_stack(tmp_path, shape, np.uint16, "noise")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * plane_bytes, f"peak {peak / MiB:.1f} MiB for a {48 * plane_bytes / MiB:.0f} MiB stack"


def test_lavision_writing_holds_a_few_tiles_at_most(tmp_path):
    brain = make_brain((24, 256, 256), seed=1, n_cells=20)  # 2 sheets x 24 planes x 4 tiles
    tracemalloc.start()
    try:
        truth = write_lavision(tmp_path, brain, tiling=(2, 2), overlap=0.1, channels=("647",))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    tile_bytes = truth.grid.tile_shape[0] * truth.grid.tile_shape[1] * 4  # one float32 tile
    written = len(truth.files) * tile_bytes // 2
    assert peak < 40 * tile_bytes < written, f"peak {peak / MiB:.1f} MiB"


def test_a_256_mib_stack_grows_the_resident_set_by_less_than_48_mib(tmp_path):
    """Peak RSS of a fresh process, before and after writing 128 planes of 1024 x 1024 uint16."""
    script = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        import numpy as np
        from lib.synth import write_plane_stack
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        write_plane_stack(Path({str(tmp_path)!r}), (128, 1024, 1024), np.uint16, "noise")
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(before, after)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    before_kib, after_kib = (int(v) for v in result.stdout.split())
    assert len(list(tmp_path.iterdir())) == 128
    assert (after_kib - before_kib) * 1024 < 48 * MiB, result.stdout
