"""Bad input or parameters end the stage with exit status 2 and one sentence saying what is wrong."""

from __future__ import annotations

import json
import pickle

import numpy as np
import tifffile

from .conftest import run_stage, write_planes


def params_file(tmp_path, **doc):
    path = tmp_path / "params.json"
    path.write_text(json.dumps(doc))
    return path


def assert_refused(result, message):
    assert result.returncodes[0] == 2, result.stderr
    assert message in result.stderr[0]
    assert "Traceback" not in result.stderr[0]


def test_a_missing_input_is_refused(tmp_path):
    params = params_file(tmp_path, layer_path=str(tmp_path / "layer"), input_path=str(tmp_path / "nowhere"),
                         voxel_size_nm=[1, 1, 1])  # fmt: skip
    assert_refused(run_stage("info", params, tasks=1), "does not exist")
    assert not (tmp_path / "layer" / "info").exists()


def test_a_folder_without_tiffs_is_refused(tmp_path):
    (tmp_path / "planes").mkdir()
    (tmp_path / "planes" / "notes.txt").write_text("no planes here")
    params = params_file(tmp_path, layer_path=str(tmp_path / "layer"), input_path=str(tmp_path / "planes"),
                         voxel_size_nm=[1, 1, 1])  # fmt: skip
    assert_refused(run_stage("info", params, tasks=1), "contains no .tif/.tiff planes")


def test_planes_of_different_shapes_are_refused_by_info_and_by_upload(tmp_path, rng):
    planes = write_planes(tmp_path / "planes", rng.integers(0, 9, size=(6, 20, 30), dtype=np.uint16))
    params = params_file(tmp_path, layer_path=str(tmp_path / "layer"), input_path=str(planes),
                         progress_dir=str(tmp_path / "progress"), voxel_size_nm=[1, 1, 1],
                         chunk_size=[16, 16, 2])  # fmt: skip
    assert run_stage("info", params, tasks=1).ok

    tifffile.imwrite(planes / "plane_4.tif", np.zeros((21, 30), dtype=np.uint16))  # replaced after info
    upload = run_stage("upload", params)
    assert upload.returncodes == [0, 0, 2]
    assert "plane plane_4.tif is 21x30 (rows x columns) but the first plane is 20x30" in upload.stderr[2]
    assert_refused(run_stage("info", params, tasks=1), "plane plane_4.tif is 21x30")


def test_a_plane_added_after_the_info_stage_is_refused_by_upload(tmp_path, rng):
    planes = write_planes(tmp_path / "planes", rng.integers(0, 9, size=(3, 8, 8), dtype=np.uint16))
    params = params_file(tmp_path, layer_path=str(tmp_path / "layer"), input_path=str(planes),
                         progress_dir=str(tmp_path / "progress"), voxel_size_nm=[1, 1, 1])  # fmt: skip
    assert run_stage("info", params, tasks=1).ok
    tifffile.imwrite(planes / "plane_3.tif", np.zeros((8, 8), dtype=np.uint16))
    assert_refused(run_stage("upload", params, tasks=1), "the input changed after the info stage")


def test_upload_before_info_is_refused(tmp_path, rng):
    planes = write_planes(tmp_path / "planes", rng.integers(0, 9, size=(2, 8, 8), dtype=np.uint16))
    params = params_file(tmp_path, layer_path=str(tmp_path / "layer"), input_path=str(planes),
                         progress_dir=str(tmp_path / "progress"))  # fmt: skip
    assert_refused(run_stage("upload", params, tasks=1), "run the info stage first")


def test_a_parameter_document_must_be_json(tmp_path):
    path = tmp_path / "params.json"
    path.write_bytes(pickle.dumps({"layer_path": "/tmp/x"}))
    assert_refused(run_stage("info", path, tasks=1), "is not JSON")


def test_parameter_mistakes_are_named(tmp_path):
    base = {"layer_path": str(tmp_path / "layer"), "input_path": str(tmp_path), "voxel_size_nm": [1, 1, 1]}
    cases = [
        ({"chunk_sise": [1, 1, 1]}, "unknown key(s) in the parameter document: chunk_sise"),
        ({"layer_path": "gs://bucket/layer"}, "must be a local path or a file:// URL"),
        ({"layer_path": "relative/layer"}, "layer_path must be absolute"),
        ({"data_type": "int7"}, "data_type must be one of"),
        ({"voxel_size_nm": [1, 0, 1]}, "voxel_size_nm must be three positive numbers"),
        ({"chunk_size": [64, 64]}, "chunk_size must be three positive integers"),
        ({"voxel_size_nm": None}, "lacks voxel_size_nm"),
    ]
    for change, message in cases:
        doc = {k: v for k, v in {**base, **change}.items() if v is not None}
        assert_refused(run_stage("info", params_file(tmp_path, **doc), tasks=1), message)


def test_a_missing_parameter_file_and_a_bad_task_index_are_refused(tmp_path):
    assert_refused(run_stage("info", tmp_path / "absent.json", tasks=1), "cannot read the parameter document")
    params = params_file(tmp_path, layer_path=str(tmp_path / "layer"))
    result = run_stage("upload", params, tasks=1)
    assert_refused(result, "lacks input_path, progress_dir")
