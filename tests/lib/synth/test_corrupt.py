"""Controlled corruptions produce exactly the problems raw-data validation names, and nothing else."""

from __future__ import annotations

import pytest

from lib.synth import CORRUPTION_KINDS, corrupt, make_brain, write_lavision, write_smartspim
from lib.synth.names import LAVISION_NAME_RE

from .helpers import lavision_problems, smartspim_problems

PREFIX = "10-50-16_UltraII_raw"


@pytest.fixture(scope="module")
def small_brain():
    return make_brain((6, 40, 48), seed=9, n_cells=4)


@pytest.fixture
def lavision(tmp_path, small_brain):
    """2 columns x 2 rows, both sheets, channels 488 (Filter0000) and 647 (Filter0001), 6 planes."""
    folder = tmp_path / "Ex_488_647"
    write_lavision(folder, small_brain, tiling=(2, 2), overlap=0.2, channels=("488", "647"), prefix=PREFIX)
    return folder


@pytest.fixture
def smartspim(tmp_path, small_brain):
    write_smartspim(tmp_path, small_brain, tiling=(2, 2), overlap=0.2, channels=("642",), stripes=False, flat=False)
    return tmp_path / "Ex_642_Em_2"


def problems(folder):
    return lavision_problems(folder, 0, (2, 2), sheets=2, planes=6)


def test_generated_folders_have_no_problems(lavision, smartspim):
    assert problems(lavision) == [] and lavision_problems(lavision, 1, (2, 2), 2, 6) == []
    assert smartspim_problems(smartspim, 2, 2, 6) == []


def test_a_missing_plane_is_one_file_short(lavision):
    change = corrupt(lavision, "missing_plane", seed=1)
    assert len(change.removed) == 1 and not change.removed[0].exists()
    name = change.removed[0].name
    match = LAVISION_NAME_RE.match(name)
    index = int(match["filter"])
    found = lavision_problems(lavision, index, (2, 2), 2, 6)
    assert found[0] == "expected 48 raw files, found 47" and len(found) == 2 and found[1].startswith("missing")


def test_the_same_seed_breaks_the_same_file(tmp_path, small_brain):
    names = []
    for run in ("a", "b"):
        folder = tmp_path / run
        write_lavision(folder, small_brain, tiling=(2, 2), overlap=0.2, channels=("488",), prefix=PREFIX)
        names.append(corrupt(folder, "missing_plane", seed=5).removed[0].name)
    assert names[0] == names[1]


def test_an_extra_plane_is_outside_the_plane_range(lavision):
    change = corrupt(lavision, "extra_plane")
    assert "Z0006" in change.added[0].name
    index = int(LAVISION_NAME_RE.match(change.added[0].name)["filter"])
    assert lavision_problems(lavision, index, (2, 2), 2, 6)[-1].endswith("6)")


def test_an_extra_tile_row_adds_row_02_for_every_column_sheet_channel_and_plane(lavision):
    change = corrupt(lavision, "extra_tile_row")
    assert len(change.added) == 2 * 2 * 2 * 6
    assert all("x 02]" in p.name for p in change.added)
    assert "[01 x 02]_C01_xyz-Table Z0005_UltraII Filter0001" in " ".join(p.name for p in change.added)
    assert problems(lavision)[0] == "expected 48 raw files, found 72"


def test_wrong_tile_column_counts_add_or_remove_a_column(lavision):
    added = corrupt(lavision, "extra_tile_column")
    assert all(p.name.startswith(f"{PREFIX}_RawDataStack[02 x ") for p in added.added)
    corrupt(lavision, "missing_tile_column")  # removes the column that is now last (02)
    corrupt(lavision, "missing_tile_column")  # and then column 01
    assert problems(lavision)[0] == "expected 48 raw files, found 24"
    assert not any("[01 x " in p.name for p in lavision.iterdir())


def test_a_wrong_light_sheet_code_is_c02_with_two_sheets_and_c01_with_one(lavision, tmp_path, small_brain):
    change = corrupt(lavision, "wrong_sheet_code")
    assert "_C02_" in change.added[0].name and not change.removed[0].exists()
    one_sheet = tmp_path / "one"
    write_lavision(one_sheet, small_brain, tiling=(1, 1), channels=("488",), sheets=("right",), prefix=PREFIX)
    change = corrupt(one_sheet, "wrong_sheet_code")
    assert "_C01_" in change.added[0].name
    found = lavision_problems(one_sheet, 0, (1, 1), sheets=1, planes=6)
    assert [line.split()[0] for line in found] == ["missing", "outside"] and "'01'" in found[1]


def test_a_wrong_filter_index_and_a_missing_bracket(lavision):
    change = corrupt(lavision, "wrong_filter_index")
    assert "Filter0002" in change.added[0].name
    change = corrupt(lavision, "missing_tile_bracket")
    assert len(change.added) == 2 * 2 * 6 and all("RawDataStack_C0" in p.name for p in change.added)
    assert not any("[00 x 00]" in p.name for p in lavision.iterdir())


def test_a_stray_file_matches_no_convention_and_a_renamed_folder_is_gone(lavision):
    change = corrupt(lavision, "stray_file")
    assert not LAVISION_NAME_RE.match(change.added[0].name) and problems(lavision) == []
    moved = corrupt(lavision, "renamed_subfolder")
    assert not lavision.exists() and moved.folder.is_dir() and moved.folder.name == "Ex_488_647_moved"


def test_smartspim_planes_rows_and_columns(smartspim):
    corrupt(smartspim, "missing_plane", seed=2)
    found = smartspim_problems(smartspim, 2, 2, 6)
    assert len(found) == 1 and found[0].endswith("expected 6 z planes, found 5")
    change = corrupt(smartspim, "extra_tile_row")
    assert len({p.parent for p in change.added}) == 1 and all(p.suffix == ".tif" for p in change.added)
    assert "expected 2 tile row folders, found 3" in " ".join(smartspim_problems(smartspim, 2, 2, 6))


def test_smartspim_extra_and_missing_columns(smartspim):
    corrupt(smartspim, "extra_tile_column")
    assert smartspim_problems(smartspim, 2, 2, 6) == ["expected 2 tile column folders, found 3"]
    corrupt(smartspim, "missing_tile_column")
    corrupt(smartspim, "missing_tile_column")
    assert smartspim_problems(smartspim, 2, 2, 6) == ["expected 2 tile column folders, found 1"]


def test_smartspim_mismatched_row_folder_and_extra_plane(smartspim):
    change = corrupt(smartspim, "mismatched_row_folder")
    column, row = change.added[0].parent.name, change.added[0].name
    assert not row.startswith(column + "_")
    assert f"{column}: expected 2 tile row folders, found 1" in " ".join(smartspim_problems(smartspim, 2, 2, 6))


def test_smartspim_extra_plane_and_stray_file(smartspim):
    corrupt(smartspim, "stray_file")
    assert smartspim_problems(smartspim, 2, 2, 6) == []
    corrupt(smartspim, "extra_plane")
    assert smartspim_problems(smartspim, 2, 2, 6)[0].endswith("expected 6 z planes, found 7")


@pytest.mark.parametrize("kind", ["wrong_sheet_code", "wrong_filter_index", "missing_tile_bracket"])
def test_lavision_only_corruptions_are_refused_on_smartspim_data(smartspim, kind):
    with pytest.raises(ValueError, match="does not apply"):
        corrupt(smartspim, kind)


def test_unknown_kinds_and_unknown_folders_are_refused(lavision, tmp_path):
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(lavision, "scramble")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neither"):
        corrupt(tmp_path / "empty", "missing_plane")
    assert "mismatched_row_folder" in CORRUPTION_KINDS
