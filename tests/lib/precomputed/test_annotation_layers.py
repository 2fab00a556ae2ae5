"""Point annotation layers (cells): the files follow Neuroglancer's precomputed annotation format, parsed
here by hand from the format's description and through cloud-volume's annotation reader."""

from __future__ import annotations

import json

import numpy as np
from cloudvolume import from_cloudpath

from lib.precomputed import LayerSummary, describe_layer

from .conftest import run_stage

POINT_DTYPE = np.dtype([("position", "<f4", 3), ("score", "<f4"), ("region_id", "<u4")])


def write_points(path, xyz, score=None, region_id=None):
    header = (
        ["x", "y", "z"] + (["score"] if score is not None else []) + (["region_id"] if region_id is not None else [])
    )
    lines = [",".join(header + ["ignored"])]
    for i, p in enumerate(xyz):
        row = [repr(float(v)) for v in p]
        row += [repr(float(score[i]))] if score is not None else []
        row += [str(int(region_id[i]))] if region_id is not None else []
        lines.append(",".join(row + ["x"]))
    path.write_text("\n".join(lines) + "\n")
    return path


def build(tmp_path, points_path, **extra):
    params = tmp_path / "params.json"
    layer = tmp_path / "viz" / "cells_ch647"
    params.write_text(json.dumps({"layer_path": str(layer), "layer_type": "annotation", "points_path": str(points_path),
                                  "voxel_size_nm": [5000, 5000, 10000], **extra}))  # fmt: skip
    result = run_stage("annotations", params)
    assert result.ok, result.stderr
    return layer


def parse_spatial_file(data, dtype=POINT_DTYPE):
    """The multiple-annotation encoding: uint64 count, the annotations, then their uint64 ids."""
    count = int(np.frombuffer(data[:8], "<u8")[0])
    annotations = np.frombuffer(data, dtype, count=count, offset=8)
    ids = np.frombuffer(data, "<u8", count=count, offset=8 + count * dtype.itemsize)
    assert 8 + count * (dtype.itemsize + 8) == len(data)
    return annotations, ids


def test_cells_become_a_point_annotation_layer_with_one_spatial_level(tmp_path, rng):
    xyz = rng.uniform(0, 1, size=(200, 3)) * [75, 61, 23]
    score = rng.uniform(0, 1, size=200).astype(np.float32)
    region = rng.integers(0, 2000, size=200)
    layer = build(tmp_path, write_points(tmp_path / "cells.csv", xyz, score, region),
                  annotation_upper_bound=[75, 61, 23])  # fmt: skip

    info = json.loads((layer / "info").read_text())
    assert info["@type"] == "neuroglancer_annotations_v1" and info["annotation_type"] == "POINT"
    assert info["dimensions"] == {"x": [5e-06, "m"], "y": [5e-06, "m"], "z": [1e-05, "m"]}
    assert info["lower_bound"] == [0, 0, 0] and info["upper_bound"] == [75, 61, 23]
    assert info["properties"] == [{"id": "score", "type": "float32"}, {"id": "region_id", "type": "uint32"}]
    assert info["relationships"] == [] and info["by_id"] == {"key": "by_id"}
    assert describe_layer(layer) == LayerSummary("annotation", "", (5000, 5000, 10000), (75, 61, 23), 1)
    assert info["spatial"] == [{"key": "spatial0", "grid_shape": [1, 1, 1], "chunk_size": [75, 61, 23],
                                "limit": 200}]  # fmt: skip

    annotations, ids = parse_spatial_file((layer / "spatial0" / "0_0_0").read_bytes())
    assert sorted(ids.tolist()) == list(range(1, 201))
    rows = ids.astype(int) - 1
    np.testing.assert_allclose(annotations["position"], xyz[rows].astype(np.float32))
    np.testing.assert_array_equal(annotations["score"], score[rows])
    np.testing.assert_array_equal(annotations["region_id"], region[rows])

    one = np.frombuffer((layer / "by_id" / "17").read_bytes(), POINT_DTYPE)
    assert one.shape == (1,)
    np.testing.assert_allclose(one["position"][0], xyz[16].astype(np.float32))

    source = from_cloudpath(f"file://{layer}")  # (its ids() fails on unsharded indexes: a cloud-volume bug)
    everything = source.get_all()
    assert sorted(everything.ids.tolist()) == list(range(1, 201))
    by_id = source.get_by_id([5])[5]
    np.testing.assert_allclose(np.ravel(by_id.geometry), xyz[4].astype(np.float32))


def test_many_cells_get_finer_spatial_levels_and_a_sharded_id_index(tmp_path, rng):
    xyz = np.concatenate([rng.uniform(0, 1, size=(2500, 3)) * [300, 200, 100],
                          rng.normal([50, 50, 50], 3, size=(500, 3))])  # fmt: skip
    xyz = np.clip(xyz, 0, [299.5, 199.5, 99.5])
    layer = build(tmp_path, write_points(tmp_path / "cells.csv", xyz), annotation_upper_bound=[300, 200, 100],
                  spatial_limit=400, by_id_shard_threshold=1000)  # fmt: skip

    info = json.loads((layer / "info").read_text())
    assert info["properties"] == []
    assert info["by_id"]["sharding"]["@type"] == "neuroglancer_uint64_sharded_v1"
    levels = info["spatial"]
    assert len(levels) >= 2 and levels[0]["grid_shape"] == [1, 1, 1]
    lower, upper = np.array(info["lower_bound"]), np.array(info["upper_bound"])
    seen = []
    dtype = np.dtype([("position", "<f4", 3)])
    for level in levels:
        np.testing.assert_allclose(np.array(level["grid_shape"]) * level["chunk_size"], upper - lower)
        # Neuroglancer reads `limit` as the most annotations one cell of the level holds (a larger value
        # makes it draw only a fraction of the cells)
        counts = [len(parse_spatial_file(f.read_bytes(), dtype)[1]) for f in (layer / level["key"]).iterdir()]
        assert level["limit"] == max(counts)
        for cell_file in (layer / level["key"]).iterdir():
            cell = np.array([int(c) for c in cell_file.name.split("_")])
            annotations, ids = parse_spatial_file(cell_file.read_bytes(), dtype)
            positions = annotations["position"]
            low = lower + cell * level["chunk_size"]
            assert (positions >= low - 1e-3).all() and (positions <= low + level["chunk_size"] + 1e-3).all()
            seen.extend(ids.tolist())
    assert sorted(seen) == list(range(1, 3001)), "every cell is in exactly one spatial level"
    # (1,1,1) holds a uniform subsample of about `limit` points
    level0, _ = parse_spatial_file((layer / "spatial0" / "0_0_0").read_bytes(), dtype)
    assert 250 < len(level0) < 550

    found = from_cloudpath(f"file://{layer}").get_by_id(list(range(1, 3001)))  # (ids() fails here too)
    positions = np.array([np.ravel(found[i].geometry) for i in range(1, 3001)])
    np.testing.assert_allclose(positions, xyz.astype(np.float32))


def test_a_points_file_without_coordinates_is_refused(tmp_path):
    points = tmp_path / "cells.csv"
    points.write_text("a,b\n1,2\n")
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"layer_path": str(tmp_path / "cells"), "points_path": str(points),
                                  "voxel_size_nm": [1, 1, 1]}))  # fmt: skip
    result = run_stage("annotations", params, tasks=1)
    assert result.returncodes == [2]
    assert "needs a header with columns x, y, z" in result.stderr[0]
    assert not (tmp_path / "cells").exists()
