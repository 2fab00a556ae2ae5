"""Raw-data validation on folders written by lib.synth: correct folders pass, each
corruption is refused with its message and counts, and nothing on disk changes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lib.rawdata import ChannelSpec, check_consistency, validate_resolution
from lib.synth import corrupt, make_brain, write_lavision, write_smartspim

PREFIX = "10-50-16_UltraII_raw"
PLANES = 6


@pytest.fixture(scope="module")
def brain():
    return make_brain((PLANES, 40, 48), seed=9, n_cells=4)


@pytest.fixture
def rawdata(tmp_path) -> Path:
    return tmp_path / "imaging_request_1" / "rawdata"


@pytest.fixture
def lavision(rawdata, brain) -> Path:
    """1.3x, 2 columns x 2 rows, both sheets, 488 (Filter0000) and 647 (Filter0001) in one subfolder."""
    folder = rawdata / "resolution_1.3x" / "Ex_488_647"
    write_lavision(folder, brain, tiling=(2, 2), overlap=0.2, channels=("488", "647"), prefix=PREFIX)
    return folder


@pytest.fixture
def smartspim(rawdata, brain) -> Path:
    """3.6x, 2 x 2 tiles, channel 642."""
    out = rawdata / "resolution_3.6x"
    write_smartspim(out, brain, tiling=(2, 2), overlap=0.2, channels=("642",), stripes=False, flat=False)
    return out / "Ex_642_Em_2"


def lavision_channels(tiling="2x2", subfolder="Ex_488_647", **changes):
    return [
        ChannelSpec(wavelength=w, subfolder=subfolder, n_planes=PLANES, tiling=tiling, overlap=0.2, **changes)
        for w in ("488", "647")
    ]


def smartspim_channel(tiling="2x2", **changes):
    return [
        ChannelSpec(wavelength="642", subfolder="Ex_642_Em_2", n_planes=PLANES, tiling=tiling, overlap=0.2, **changes)
    ]


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            stat = os.stat(os.path.join(folder, name))
            found[os.path.relpath(os.path.join(folder, name), root)] = (stat.st_mtime_ns, stat.st_size)
    found["."] = (os.stat(root).st_mtime_ns, 0)
    return found


@pytest.fixture
def no_writes(monkeypatch):
    """Any renaming, moving or deleting during validation fails the test loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"validation touched the disk: {args}")

    for name in ("rename", "replace", "unlink", "remove", "rmdir", "mkdir", "makedirs", "link", "symlink"):
        monkeypatch.setattr(os, name, refuse)
    monkeypatch.setattr(shutil, "move", refuse)
    monkeypatch.setattr(Path, "write_bytes", refuse)
    monkeypatch.setattr(Path, "write_text", refuse)


# --- LaVision ------------------------------------------------------------------------------------------


def test_a_correct_tiled_lavision_folder_passes_and_reports_filter_indexes(rawdata, lavision):
    result = validate_resolution(rawdata, "1.3x", lavision_channels())
    assert result.ok, result.messages
    assert result.channel_indexes == {("488", False): 0, ("647", False): 1}


def test_a_single_tile_folder_without_tile_brackets_passes(rawdata, brain):
    folder = rawdata / "resolution_1.1x" / "sheet_left"
    write_lavision(folder, brain, tiling=(1, 1), channels=("555",), sheets=("right",), omit_single_tile_bracket=True)
    channel = ChannelSpec("555", "sheet_left/", n_planes=PLANES, left_sheet=False, right_sheet=True)
    result = validate_resolution(rawdata, "1.1x", [channel])
    assert result.ok, result.messages
    assert result.channel_indexes == {("555", False): 0}


def test_validation_changes_nothing_on_disk(rawdata, lavision, smartspim, no_writes):
    before = snapshot(rawdata)
    names_before = sorted(p.name for p in lavision.iterdir())
    validate_resolution(rawdata, "1.3x", lavision_channels(tiling="3x2"))
    validate_resolution(rawdata, "3.6x", smartspim_channel(tiling="1x3"))
    assert snapshot(rawdata) == before
    assert sorted(p.name for p in lavision.iterdir()) == names_before


def test_a_missing_plane_is_refused_with_counts_and_the_missing_file(rawdata, lavision):
    done = corrupt(lavision, "missing_plane", seed=3)
    result = validate_resolution(rawdata, "1.3x", lavision_channels())
    removed = done.removed[0].name
    wavelength = "488" if "Filter0000" in removed else "647"
    expected = 2 * 2 * 2 * PLANES
    assert (
        f"Channel {wavelength}: expected {expected} raw files in Ex_488_647, found {expected - 1}." in result.messages
    )
    z = removed.split("Z")[1][:4]
    assert any(m.startswith(f"Channel {wavelength}: missing tile [") and f"plane Z{z}" in m for m in result.messages)
    assert len(result.messages) == 2


def test_an_extra_tile_row_is_refused(rawdata, lavision):
    corrupt(lavision, "extra_tile_row")
    result = validate_resolution(rawdata, "1.3x", lavision_channels())
    expected = 2 * 2 * 2 * PLANES
    assert (
        f"Channel 488: expected {expected} raw files in Ex_488_647, found {expected + 2 * 2 * PLANES}."
        in result.messages
    )
    assert any(
        m.startswith("Channel 488: found files outside the tiling scheme or plane range, e.g. ") and "x 02]" in m
        for m in result.messages
    )


def test_a_wrong_tile_column_count_is_refused(rawdata, lavision):
    result = validate_resolution(rawdata, "1.3x", lavision_channels(tiling="3x2"))
    assert "Channel 488: expected 72 raw files in Ex_488_647, found 48." in result.messages
    assert f"Channel 488: missing tile [02 x 00] C00 planes Z0000–Z{PLANES - 1:04d}" in result.messages
    assert "Channel 647: missing tile [02 x 01] C01 planes Z0000–Z0005" in result.messages


def test_an_extra_tile_column_is_refused(rawdata, lavision):
    corrupt(lavision, "extra_tile_column")
    result = validate_resolution(rawdata, "1.3x", lavision_channels())
    assert any("found files outside the tiling scheme" in m and "[02 x" in m for m in result.messages)


def test_a_wrong_light_sheet_code_is_refused(rawdata, lavision):
    done = corrupt(lavision, "wrong_sheet_code", seed=2)
    result = validate_resolution(rawdata, "1.3x", lavision_channels())
    wrong = done.added[0].name
    assert "_C02_" in wrong
    assert any(m.endswith(f"e.g. {wrong}.") for m in result.messages)
    assert any("missing tile" in m for m in result.messages)


def test_a_single_sheet_acquisition_must_use_c00_even_for_the_right_sheet(rawdata, brain):
    folder = rawdata / "resolution_1.3x" / "right_only"
    write_lavision(folder, brain, tiling=(1, 1), channels=("488",), sheets=("right",), prefix=PREFIX)
    channel = ChannelSpec("488", "right_only", n_planes=PLANES, left_sheet=False)
    assert validate_resolution(rawdata, "1.3x", [channel]).ok
    corrupt(folder, "wrong_sheet_code")
    result = validate_resolution(rawdata, "1.3x", [channel])
    assert any("_C01_" in m and "outside the tiling scheme" in m for m in result.messages)


def test_files_without_tile_brackets_in_a_tiled_acquisition_are_refused(rawdata, lavision):
    corrupt(lavision, "missing_tile_bracket")
    result = validate_resolution(rawdata, "1.3x", lavision_channels())
    assert "Tile positions are missing from the file names." in result.messages


def test_a_renamed_subfolder_is_reported_once_as_missing(rawdata, lavision):
    corrupt(lavision, "renamed_subfolder")
    result = validate_resolution(rawdata, "1.3x", lavision_channels(), display_root="/jukebox/x/rawdata")
    assert result.messages == ["Folder /jukebox/x/rawdata/resolution_1.3x/Ex_488_647 does not exist."]


def test_ventral_up_channels_are_looked_for_in_the_ventral_up_folder(rawdata, brain):
    folder = rawdata / "resolution_1.3x_ventral_up" / "vu"
    write_lavision(folder, brain, tiling=(1, 1), channels=("647",), ventral_up=True, prefix=PREFIX)
    channel = ChannelSpec("647", "vu", n_planes=PLANES, ventral_up=True)
    result = validate_resolution(rawdata, "1.3x", [channel])
    assert result.ok and result.channel_indexes == {("647", True): 0}
    dorsal = ChannelSpec("647", "vu", n_planes=PLANES)
    assert validate_resolution(rawdata, "1.3x", [dorsal]).messages == [
        f"Folder {rawdata}/resolution_1.3x/vu does not exist."
    ]


def test_many_missing_ranges_are_cut_after_ten_lines(rawdata, lavision):
    result = validate_resolution(rawdata, "1.3x", lavision_channels(tiling="4x4"))
    lines = [m for m in result.messages if m.startswith("Channel 488: missing tile")]
    assert len(lines) == 10
    assert "Channel 488: … and 14 more" in result.messages  # 12 missing tiles x 2 sheets


def test_stray_files_are_ignored_and_counted(rawdata, lavision):
    corrupt(lavision, "stray_file")
    result = validate_resolution(rawdata, "1.3x", lavision_channels())
    assert result.ok
    assert result.info == ["1 files in Ex_488_647 do not follow the LaVision naming and were ignored."]


def test_a_subfolder_escaping_the_resolution_folder_is_refused(rawdata, lavision):
    channel = ChannelSpec("488", "../resolution_1.3x/Ex_488_647", n_planes=PLANES, tiling="2x2")
    result = validate_resolution(rawdata, "1.3x", [channel])
    assert not result.ok and "must be relative" in result.messages[0]


# --- SmartSPIM -----------------------------------------------------------------------------------------


def test_a_correct_smartspim_folder_passes(rawdata, smartspim):
    assert validate_resolution(rawdata, "3.6x", smartspim_channel()).ok


def test_a_missing_smartspim_plane_is_refused(rawdata, smartspim):
    done = corrupt(smartspim, "missing_plane")
    tile = done.removed[0].parent.relative_to(smartspim)
    result = validate_resolution(rawdata, "3.6x", smartspim_channel())
    assert result.messages == [f"Tile {tile}: expected {PLANES} z planes, found {PLANES - 1}."]


def test_an_extra_smartspim_tile_row_is_refused(rawdata, smartspim):
    done = corrupt(smartspim, "extra_tile_row")
    column = done.added[0].relative_to(smartspim).parts[0]
    result = validate_resolution(rawdata, "3.6x", smartspim_channel())
    assert result.messages == [f"Column {column}: expected 2 tile row folders, found 3."]


def test_a_wrong_smartspim_tile_column_count_is_refused(rawdata, smartspim):
    corrupt(smartspim, "extra_tile_column")
    result = validate_resolution(rawdata, "3.6x", smartspim_channel())
    assert result.messages == ["Expected 2 tile column folders in Ex_642_Em_2, found 3."]
    result = validate_resolution(rawdata, "3.6x", smartspim_channel(tiling="3x2"))
    assert result.ok


def test_a_mismatched_smartspim_row_folder_is_refused(rawdata, smartspim):
    done = corrupt(smartspim, "mismatched_row_folder")
    column, row = done.added[0].relative_to(smartspim).parts
    result = validate_resolution(rawdata, "3.6x", smartspim_channel())
    assert f"Column {column}: expected 2 tile row folders, found 1." in result.messages
    assert f"Column {column}: row folder {row} does not start with the column name {column}." in result.messages


def test_smartspim_progress_is_reported(rawdata, smartspim):
    seen: list[str] = []
    validate_resolution(rawdata, "3.6x", smartspim_channel(), progress=seen.append)
    assert seen and seen[0].startswith("Checking channel 642")


# --- consistency ---------------------------------------------------------------------------------------


def test_channels_sharing_a_subfolder_must_share_their_parameters():
    first, second = lavision_channels()
    changed = ChannelSpec(**{**vars(second), "n_planes": PLANES + 1})
    assert check_consistency([first, changed]) == [
        "Tiling and imaging parameters must be identical for all channels in the same subfolder."
    ]
    other_folder = ChannelSpec(**{**vars(second), "subfolder": "other", "tiling": "1x1"})
    assert check_consistency([first, other_folder]) == [
        "All channels at one resolution must use the same tiling scheme and overlap."
    ]
    ventral = ChannelSpec(**{**vars(second), "ventral_up": True, "tiling": "1x1"})
    assert check_consistency([first, ventral]) == []
