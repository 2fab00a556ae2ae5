"""Segmentation layers (atlas overlays): labels survive exactly, coarser scales hold the most frequent
label of each cell, and `segment_properties` names the regions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cloudfiles import CloudFiles
from cloudvolume import CloudVolume

from lib.precomputed import ConversionError, read_ontology

from .conftest import (
    as_xyz,
    assert_is_mode,
    convert,
    read_cloudvolume,
    read_tensorstore,
    run_stage,
    scale_factors,
    write_volume,
)

ONTOLOGY = {
    "msg": [
        {"id": 997, "name": "root", "acronym": "root", "children": [
            {"id": 8, "name": "Basic cell groups and regions", "acronym": "grey", "children": [
                {"id": 567, "name": "Cerebrum", "acronym": "CH", "children": []},
            ]},
            {"id": 4294967295, "name": "Outside the brain", "acronym": "", "children": []},
        ]},
    ]
}  # fmt: skip


def atlas_like(rng, shape):
    """Blocky regions with speckle, so cells have clear majorities, ties and lone labels."""
    labels = np.array([0, 8, 567, 997, 4294967295], dtype=np.uint32)
    coarse = rng.integers(0, len(labels), size=tuple(-(-n // 3) for n in shape))
    volume = labels[coarse.repeat(3, 0).repeat(3, 1).repeat(3, 2)[: shape[0], : shape[1], : shape[2]]]
    speckle = rng.random(shape) < 0.15
    volume[speckle] = labels[rng.integers(0, len(labels), size=int(speckle.sum()))]
    return volume


def test_a_uint32_atlas_becomes_a_segmentation_layer_with_region_names(tmp_path, rng):
    volume = atlas_like(rng, (17, 45, 31))
    ontology = tmp_path / "ontology.json"
    ontology.write_text(json.dumps(ONTOLOGY))
    layer = tmp_path / "atlas" / "allen" / "precomputed"
    convert(
        {
            "layer_path": str(layer),
            "layer_type": "segmentation",
            "data_type": "uint32",
            "input_path": str(write_volume(tmp_path / "annotation_25um.tif", volume)),
            "progress_dir": str(tmp_path / "progress"),
            "voxel_size_nm": [25000, 25000, 25000],
            "chunk_size": [16, 16, 8],
            "downsample_chunk_size": [8, 8, 4],
            "ontology_path": str(ontology),
        },
        tmp_path,
        stages=("info", "upload", "downsample", "segment_properties"),
    )

    vol = CloudVolume(f"file://{layer}", progress=False)
    assert vol.layer_type == "segmentation" and vol.dtype == np.uint32
    assert vol.info["segment_properties"] == "segment_properties"
    props = CloudFiles(f"file://{layer}").get_json("segment_properties/info")
    assert props["@type"] == "neuroglancer_segment_properties"
    names = dict(zip(props["inline"]["ids"], props["inline"]["properties"][0]["values"], strict=True))
    assert names == {"8": "Basic cell groups and regions", "567": "Cerebrum", "997": "root",
                     "4294967295": "Outside the brain"}  # fmt: skip
    assert props["inline"]["properties"][0]["type"] == "label"
    assert props["inline"]["properties"][1] == {"id": "description", "type": "description",
                                                "values": ["grey", "CH", "root", ""]}  # fmt: skip

    np.testing.assert_array_equal(read_cloudvolume(layer, 0), as_xyz(volume))
    np.testing.assert_array_equal(read_tensorstore(layer, 0), as_xyz(volume))
    factors = scale_factors(layer)
    assert factors == [(2, 2, 2)] * 3
    below = as_xyz(volume)
    for mip, factor in enumerate(factors, start=1):
        level = read_cloudvolume(layer, mip)
        np.testing.assert_array_equal(level, read_tensorstore(layer, mip))
        assert_is_mode(level, below, factor)
        below = level


def test_segment_properties_need_a_segmentation_layer(tmp_path, rng):
    volume = rng.integers(0, 100, size=(3, 10, 10), dtype=np.uint16)
    ontology = tmp_path / "regions.csv"
    ontology.write_text("id,name,acronym\n1,One,O\n")
    params = convert(
        {"layer_path": str(tmp_path / "image"), "input_path": str(write_volume(tmp_path / "v.tif", volume)),
         "voxel_size_nm": [1, 1, 1], "ontology_path": str(ontology)},
        tmp_path,
        stages=("info",),
    )  # fmt: skip
    result = run_stage("segment_properties", params, tasks=1)
    assert result.returncodes == [2]
    assert "is not a segmentation layer" in result.stderr[0]


def test_an_ontology_can_be_a_csv_file_and_duplicate_ids_are_refused(tmp_path):
    good = tmp_path / "regions.csv"
    good.write_text("ID,Name\n10,Ten\n2,Two\n\n")
    assert read_ontology(good) == [(2, "Two", ""), (10, "Ten", "")]
    bad = tmp_path / "dup.csv"
    bad.write_text("id,name\n2,Two\n2,Again\n")
    with pytest.raises(ConversionError, match="lists region id 2 twice"):
        read_ontology(bad)
