"""The pyramid and the sharing of slabs between array tasks (pure functions, no files)."""

from __future__ import annotations

import numpy as np
import pytest

from lib.precomputed import ConversionError, downsample_plan, mean_pool, mode_pool, parse_params, plan_scales
from lib.precomputed.geometry import level_range, slabs, task_slabs


def test_raw_layers_get_four_more_scales_halving_x_and_y_with_128_128_64_chunks():
    scales = plan_scales((2160, 2560, 1400), (5000, 5000, 10000), (1024, 1024, 1), (128, 128, 64), 5, "never")
    assert [s.key for s in scales] == ["5000_5000_10000", "10000_10000_10000", "20000_20000_10000",
                                       "40000_40000_10000", "80000_80000_10000"]  # fmt: skip
    assert [s.size for s in scales][-1] == (135, 160, 1400)
    assert [s.chunk for s in scales] == [(1024, 1024, 1)] + [(128, 128, 64)] * 4


def test_z_is_halved_once_the_xy_voxel_reaches_the_z_voxel():
    scales = plan_scales((1000, 1000, 700), (5000, 5000, 10000), (1024, 1024, 1), (128, 128, 64))
    assert [s.factor for s in scales[1:4]] == [(2, 2, 1), (2, 2, 2), (2, 2, 2)]
    assert scales[3].resolution == (40000, 40000, 40000) and scales[3].size == (125, 125, 175)


def test_without_a_scale_count_the_pyramid_stops_when_a_scale_fits_in_one_chunk():
    scales = plan_scales((2048, 2048, 256), (1000, 1000, 1000), (1024, 1024, 1), (128, 128, 64), None, "never")
    assert [s.size[0] for s in scales] == [2048, 1024, 512, 256, 128]
    assert plan_scales((100, 90, 5), (1, 1, 1), (128, 128, 1), (128, 128, 64))[-1].size == (100, 90, 5)


@pytest.mark.parametrize("total, thickness, tasks", [(23, 4, 3), (1400, 1, 13), (5, 64, 3), (64, 64, 1)])
def test_upload_slabs_are_shared_contiguously_and_exactly_once(total, thickness, tasks):
    shares = [task_slabs(total, thickness, k, tasks) for k in range(tasks)]
    flat = [s for share in shares for s in share]
    assert flat == list(slabs(0, total, thickness))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


@pytest.mark.parametrize(
    "size, voxel, tasks", [((75, 61, 23), (1000, 1000, 2000), 3), ((300, 300, 1400), (1800, 1800, 2000), 12),
                           ((64, 64, 10), (5000, 5000, 10000), 5), ((40, 40, 300), (1000, 1000, 1000), 4)]
)  # fmt: skip
def test_downsample_ranges_nest_and_cover_each_parallel_scale_once(size, voxel, tasks):
    scales = plan_scales(size, voxel, (32, 32, 4), (16, 16, 4))
    plan = downsample_plan(scales, tasks)
    ranges = [plan.task_range(scales, k, tasks) for k in range(tasks)]
    for level in range(1, plan.depth + 1):
        covered = []
        for b0, b1 in ranges:
            if b0 == b1:
                continue
            z0, z1 = level_range(scales, level, b0, b1)
            assert z0 % scales[level].chunk[2] == 0, "a task's range starts on a chunk boundary"
            below0, below1 = level_range(scales, level - 1, b0, b1)
            assert (
                below0 == z0 * scales[level].factor[2]
                and min(z1 * scales[level].factor[2], scales[level - 1].size[2]) <= below1
            )
            covered += range(z0, z1)
        assert covered == list(range(scales[level].size[2]))
    busy = sum(1 for b0, b1 in ranges if b1 > b0)
    assert busy == min(tasks, -(-size[2] // plan.unit))


def test_mean_pooling_rounds_half_up_and_treats_an_odd_edge_as_repeated():
    block = np.array([[[1], [2]], [[2], [2]], [[7], [8]]], dtype=np.uint16)  # x=3, y=2, z=1
    assert mean_pool(block, (2, 2, 1)).ravel().tolist() == [2, 8]  # 7/4 -> 2, (7+8)/2 = 7.5 -> 8


def test_mode_pooling_keeps_the_majority_label():
    block = np.array([[[5], [9]], [[9], [9]]], dtype=np.uint64)
    assert mode_pool(block, (2, 2, 1)).ravel().tolist() == [9]


def test_a_parameter_document_round_trips():
    doc = {"layer_path": "file:///data/viz/raw_ch488_left", "input_path": "/data/raw", "voxel_size_nm": [1.5, 1.5, 2],
           "chunk_size": [1024, 1024, 1], "num_scales": 5}  # fmt: skip
    params = parse_params(doc)
    assert (
        str(params.layer_path) == "/data/viz/raw_ch488_left" and params.layer_url == "file:///data/viz/raw_ch488_left"
    )
    assert parse_params(params.to_json()) == params
    with pytest.raises(ConversionError, match="num_scales must be a positive integer"):
        parse_params({**doc, "num_scales": True})
