"""File and folder names follow the microscopes' naming conventions exactly."""

from __future__ import annotations

import pytest

from lib.synth import filter_indexes, lavision_file_name, parse_tiling, sheet_codes, smartspim_channel_folder
from lib.synth.names import (
    LAVISION_NAME_RE,
    lavision_prefix,
    smartspim_column_folder,
    smartspim_plane_name,
    smartspim_row_folder,
)


def test_lavision_name_reproduces_the_spec_example():
    name = lavision_file_name("10-50-16_UltraII_raw", 0, 1, "C01", 137, 1)
    assert name == "10-50-16_UltraII_raw_RawDataStack[00 x 01]_C01_xyz-Table Z0137_UltraII Filter0001.ome.tif"
    assert lavision_prefix(10, 50, 16) == "10-50-16_UltraII_raw"


def test_lavision_name_puts_the_column_first_and_the_row_second():
    name = lavision_file_name("p", 3, 1, "C00", 0, 0)
    match = LAVISION_NAME_RE.match(name)
    assert match and (match["column"], match["row"]) == ("03", "01")


def test_single_tile_names_may_omit_the_bracket_and_use_tif():
    name = lavision_file_name("p", 0, 0, "C00", 5, 0, extension=".tif", bracket=False)
    assert name == "p_RawDataStack_C00_xyz-Table Z0005_UltraII Filter0000.tif"
    assert LAVISION_NAME_RE.match(name)


def test_a_prefix_containing_rawdatastack_is_refused():
    with pytest.raises(ValueError):
        lavision_file_name("x_RawDataStack", 0, 0, "C00", 0, 0)


def test_the_only_sheet_is_c00_even_when_it_is_the_right_one():
    assert sheet_codes(["right"]) == {"right": "C00"}
    assert sheet_codes(["left"]) == {"left": "C00"}
    assert sheet_codes(["right", "left"]) == {"left": "C00", "right": "C01"}
    with pytest.raises(ValueError):
        sheet_codes([])


def test_channels_sharing_a_folder_get_filter_indexes_in_ascending_wavelength_order():
    assert filter_indexes(["647", "488"]) == {"488": 0, "647": 1}
    assert filter_indexes(["790", "555", "488", "647"]) == {"488": 0, "555": 1, "647": 2, "790": 3}
    assert filter_indexes(["647"]) == {"647": 0}


def test_smartspim_names_reproduce_the_spec_example():
    parts = (
        smartspim_channel_folder("642"),
        smartspim_column_folder(414020),
        smartspim_row_folder(414020, 493660),
        smartspim_plane_name(12340),
    )
    path = "/".join(parts)
    assert path == "Ex_642_Em_2/414020/414020_493660/012340.tif"
    assert [smartspim_channel_folder(w) for w in ("488", "561", "785")] == ["Ex_488_Em_0", "Ex_561_Em_1", "Ex_785_Em_3"]


def test_stage_positions_that_do_not_fit_six_digits_are_refused():
    with pytest.raises(ValueError):
        smartspim_column_folder(1_000_000)


@pytest.mark.parametrize(("text", "tiling"), [("2x3", (2, 3)), ("1X1", (1, 1)), ("10x4", (10, 4))])
def test_tiling_is_columns_by_rows(text, tiling):
    assert parse_tiling(text) == tiling


@pytest.mark.parametrize("text", ["2 x 3", "2x", "0x1", "axb"])
def test_malformed_tilings_are_refused(text):
    with pytest.raises(ValueError):
        parse_tiling(text)
