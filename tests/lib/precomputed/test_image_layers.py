"""Image layers from TIFF stacks, converted by the stage commands with three array tasks and read back
through cloud-volume and tensorstore."""

from __future__ import annotations

import json

import numpy as np

from lib.precomputed import LayerSummary, describe_layer

from .conftest import (
    as_xyz,
    convert,
    read_cloudvolume,
    read_tensorstore,
    reference_mean,
    scale_factors,
    write_planes,
    write_volume,
)


def assert_pyramid_is_the_mean_of_each_level_below(layer, num_scales):
    factors = scale_factors(layer)
    assert len(factors) == num_scales - 1
    below = read_cloudvolume(layer, 0)
    for mip, factor in enumerate(factors, start=1):
        level_cv = read_cloudvolume(layer, mip)
        level_ts = read_tensorstore(layer, mip)
        np.testing.assert_array_equal(level_cv, level_ts)
        expected = reference_mean(below, factor)
        assert level_cv.shape == expected.shape
        assert np.abs(level_cv.astype(np.float64) - expected).max() <= 0.5, f"mip {mip} is not the rounded mean"
        below = level_cv


def test_a_uint16_plane_folder_becomes_an_image_layer_equal_to_its_input(tmp_path, rng):
    volume = rng.integers(0, 65536, size=(23, 61, 75), dtype=np.uint16)  # z, y, x: no size is a chunk multiple
    volume[3, 5, 7] = 65535  # extremes survive unchanged
    volume[4, 0, 0] = 0
    layer = tmp_path / "viz" / "raw_ch488_left"
    convert(
        {
            "layer_path": str(layer),
            "input_path": str(write_planes(tmp_path / "planes", volume)),
            "progress_dir": str(tmp_path / "runs" / "7" / "progress"),
            "voxel_size_nm": [5000, 5000, 10000],
            "chunk_size": [32, 32, 1],
            "downsample_chunk_size": [16, 16, 4],
            "z_downsampling": "never",
        },
        tmp_path,
    )

    info = json.loads((layer / "info").read_text())
    assert info["type"] == "image" and info["data_type"] == "uint16" and info["num_channels"] == 1
    assert [s["key"] for s in info["scales"]] == ["5000_5000_10000", "10000_10000_10000", "20000_20000_10000",
                                                  "40000_40000_10000"]  # fmt: skip
    assert [s["size"] for s in info["scales"]] == [[75, 61, 23], [38, 31, 23], [19, 16, 23], [10, 8, 23]]
    assert {s["encoding"] for s in info["scales"]} == {"raw"}
    assert describe_layer(layer) == LayerSummary(
        "image", "uint16", (5000, 5000, 10000), (75, 61, 23), 4, tuple(s["key"] for s in info["scales"])
    )
    assert info["scales"][0]["chunk_sizes"] == [[32, 32, 1]] and info["scales"][1]["chunk_sizes"] == [[16, 16, 4]]

    np.testing.assert_array_equal(read_cloudvolume(layer, 0), as_xyz(volume))
    np.testing.assert_array_equal(read_tensorstore(layer, 0), as_xyz(volume))
    assert_pyramid_is_the_mean_of_each_level_below(layer, 4)


def test_a_uint8_multipage_tiff_gets_an_isotropic_pyramid_with_z_halved(tmp_path, rng):
    volume = rng.integers(0, 256, size=(23, 61, 75), dtype=np.uint8)
    layer = tmp_path / "viz" / "corrected_ch647"
    progress = tmp_path / "runs" / "8" / "progress"
    convert(
        {
            "layer_path": f"file://{layer}",
            "input_path": str(write_volume(tmp_path / "stack.tif", volume)),
            "progress_dir": str(progress),
            "data_type": "uint8",
            "voxel_size_nm": [1000, 1000, 2000],
            "chunk_size": [32, 32, 4],
            "downsample_chunk_size": [16, 16, 4],
        },
        tmp_path,
    )

    assert scale_factors(layer) == [(2, 2, 1), (2, 2, 2), (2, 2, 2)]
    np.testing.assert_array_equal(read_cloudvolume(layer, 0), as_xyz(volume))
    np.testing.assert_array_equal(read_tensorstore(layer, 0), as_xyz(volume))
    assert_pyramid_is_the_mean_of_each_level_below(layer, 4)
    # the coarsest scale has fewer chunk rows than tasks: the task that finished last computed it
    ledger = json.loads((progress / "downsample" / "ledger.json").read_text())
    assert ledger["finished"] is True
    assert sorted(ledger["parallel_done_depth2"]) == [[0, 8], [8, 16], [16, 23]]


def test_chunks_are_written_raw_and_uncompressed_and_nothing_lands_in_the_layer_but_the_layer(tmp_path, rng):
    volume = rng.integers(0, 65536, size=(5, 40, 50), dtype=np.uint16)
    layer = tmp_path / "viz" / "layer"
    convert(
        {
            "layer_path": str(layer),
            "input_path": str(write_planes(tmp_path / "planes", volume)),
            "progress_dir": str(tmp_path / "progress"),
            "voxel_size_nm": [1800, 1800, 2000.5],
            "chunk_size": [1024, 1024, 1],
            "num_scales": 1,
        },
        tmp_path,
        stages=("info", "upload"),
    )

    info = json.loads((layer / "info").read_text())
    assert [s["key"] for s in info["scales"]] == ["1800_1800_2000.5"]
    chunk_files = sorted(p.name for p in (layer / "1800_1800_2000.5").iterdir())
    assert chunk_files == [f"0-50_0-40_{z}-{z + 1}" for z in range(5)]
    assert all((layer / "1800_1800_2000.5" / name).stat().st_size == 50 * 40 * 2 for name in chunk_files)
    assert sorted(p.name for p in layer.iterdir()) == ["1800_1800_2000.5", "info"]
    assert sorted(p.name for p in (tmp_path / "progress" / "upload").iterdir()) == [f"{z}-{z + 1}" for z in range(5)]
    np.testing.assert_array_equal(read_tensorstore(layer, 0), as_xyz(volume))
