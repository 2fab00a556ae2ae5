"""The synthetic brain and atlas: structure, cells, ontology, and a sample-to-atlas transform that
really maps the sample onto the atlas."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lib.synth import apply_affine, channel_look, label_ids, make_brain, write_atlas
from lib.synth.anatomy import affine_plane

from .helpers import read


def test_the_same_seed_makes_the_same_brain_and_another_seed_a_different_one():
    first, second, other = (make_brain((12, 40, 40), seed, n_cells=8) for seed in (5, 5, 6))
    np.testing.assert_array_equal(first.cells_xyz, second.cells_xyz)
    np.testing.assert_array_equal(first.sample_to_atlas_um, second.sample_to_atlas_um)
    np.testing.assert_array_equal(first.volume(channel_look("488")), second.volume(channel_look("488")))
    assert not np.array_equal(first.cells_xyz, other.cells_xyz)
    assert not np.allclose(first.sample_to_atlas_um, other.sample_to_atlas_um)


def test_the_brain_has_internal_structure_and_cells_inside_it(cell_brain):
    volume = cell_brain.volume(channel_look("488"))
    middle = volume[volume.shape[0] // 2]
    assert middle[middle > 0.1].std() > 0.1  # texture and regions, not a flat blob
    labels = np.stack([cell_brain.labels_plane(z, (0, 64), (0, 80)) for z in range(16)])
    assert len(np.unique(labels)) >= 6
    cells = cell_brain.cells_xyz.astype(int)
    assert np.all(labels[cells[:, 2], cells[:, 1], cells[:, 0]] > 0)
    distances = np.linalg.norm(cells[:, None, :] - cells[None, :, :], axis=2) + np.eye(len(cells)) * 1e9
    assert distances.min() >= 6 * max(cell_brain.cell_sigma_px)


def test_too_many_cells_for_the_volume_is_an_error():
    with pytest.raises(ValueError, match="cells fit"):
        make_brain((8, 24, 24), n_cells=500)


@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    brain = make_brain((48, 128, 128), seed=2, n_cells=60)
    return brain, write_atlas(tmp_path_factory.mktemp("atlas"), brain, max_side=80)


def test_the_atlas_has_template_annotation_ontology_and_metadata_files(atlas):
    _, truth = atlas
    template, annotation = read(truth.template_path), read(truth.annotation_path)
    assert template.dtype == np.uint16 and annotation.dtype == np.uint16
    assert template.shape == annotation.shape == truth.shape and max(truth.shape) == 80
    assert min(truth.shape) >= 48
    metadata = json.loads(truth.metadata_path.read_text())
    assert metadata["voxel_size_um"] == list(truth.voxel_size_um) and metadata["shape_zyx"] == list(truth.shape)
    assert template[annotation == 0].mean() < 0.1 * template[annotation > 0].mean()
    assert template[0].max() == template[:, 0].max() == template[:, :, 0].max() == 0  # margin around the brain


def test_every_annotation_label_is_in_the_ontology_which_is_one_tree(atlas):
    _, truth = atlas
    ontology = json.loads(truth.ontology_path.read_text())
    ids = {entry["id"] for entry in ontology}
    assert all(set(entry) == {"id", "name", "acronym", "parent_structure_id"} for entry in ontology)
    roots = [entry for entry in ontology if entry["parent_structure_id"] is None]
    assert [r["acronym"] for r in roots] == ["root"]
    assert all(entry["parent_structure_id"] in ids for entry in ontology if entry is not roots[0])
    labels = set(np.unique(read(truth.annotation_path)).tolist()) - {0}
    assert labels <= ids and len(labels) >= 8
    assert labels == set(truth.region_ids) - {0} <= set(label_ids())


def test_the_sample_to_atlas_transform_maps_sample_regions_onto_atlas_regions(atlas):
    brain, truth = atlas
    annotation = read(truth.annotation_path)
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.integers(0, n, 4000) for n in (128, 128, 48)]).astype(float)
    sample_labels = np.array(
        [brain.labels_plane(int(z), (int(y), int(y) + 1), (int(x), int(x) + 1))[0, 0] for x, y, z in points]
    )
    inside = sample_labels > 0
    assert inside.sum() > 1000
    atlas_points = np.rint(apply_affine(truth.sample_to_atlas_vox, points[inside])).astype(int)
    upper = np.array(truth.shape[::-1]) - 1
    assert np.all((atlas_points >= 0) & (atlas_points <= upper)), "the whole brain fits in the atlas"
    atlas_labels = annotation[atlas_points[:, 2], atlas_points[:, 1], atlas_points[:, 0]]
    assert (atlas_labels == sample_labels[inside]).mean() > 0.9
    # The transform is the horizontal-to-sagittal permutation plus a genuine small rotation and scale.
    linear = truth.sample_to_atlas_vox[:3, :3]
    permutation = np.abs(linear) == np.abs(linear).max(axis=0)
    assert permutation[2, 0] and permutation[1, 1] and permutation[0, 2]
    assert np.abs(linear[~permutation]).max() > 1e-3


def test_the_template_matches_the_sample_structure_through_the_transform(atlas):
    brain, truth = atlas
    template = read(truth.template_path).astype(float)
    z = 24
    structure = brain.structure_plane(z, (0, 128), (0, 128))
    ys, xs = np.mgrid[0:128, 0:128]
    points = np.column_stack([xs.ravel(), ys.ravel(), np.full(xs.size, z)]).astype(float)
    atlas_points = np.clip(np.rint(apply_affine(truth.sample_to_atlas_vox, points)), 0, np.array(truth.shape[::-1]) - 1)
    atlas_points = atlas_points.astype(int)
    sampled = template[atlas_points[:, 2], atlas_points[:, 1], atlas_points[:, 0]]
    inside = structure.ravel() > 0.1  # within the brain, where the texture and regions are
    correlation = np.corrcoef(sampled[inside], structure.ravel()[inside])[0, 1]
    assert correlation > 0.9


def test_planted_cells_land_in_atlas_regions(atlas):
    brain, truth = atlas
    assert truth.cells_xyz.shape == brain.cells_xyz.shape
    assert np.all(truth.cell_region_ids > 0)
    assert len(set(truth.cell_region_ids.tolist())) >= 3


def test_affine_plane_evaluates_the_affine_on_a_grid():
    matrix = np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0], [0, 0, 0, 1]])
    u = affine_plane(matrix, 2.0, (1, 3), (0, 2))
    np.testing.assert_allclose(u[0], [[1 * 0 + 2 * 1 + 6 + 4, 1 + 2 + 6 + 4], [0 + 4 + 6 + 4, 1 + 4 + 6 + 4]])
    np.testing.assert_allclose(u[2], [[1, 1], [1, 1]])
