"""`python -m lib.synth` writes the same data as the API and reports the ground truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lib.synth.cli import main

ROOT = Path(__file__).resolve().parents[3]


def test_lavision_command_writes_the_tiled_folder_and_its_truth(tmp_path, capsys):
    out, truth = tmp_path / "raw", tmp_path / "truth.json"
    main(
        [
            "lavision",
            str(out),
            "--shape",
            "6,40,48",
            "--cells",
            "4",
            "--tiling",
            "2x1",
            "--overlap",
            "0.2",
            "--channels",
            "647,488",
            "--sheets",
            "left",
            "--prefix",
            "10-50-16_UltraII_raw",
            "--truth",
            str(truth),
        ]
    )
    assert "wrote 24 LaVision files" in capsys.readouterr().out
    assert (out / "10-50-16_UltraII_raw_RawDataStack[01 x 00]_C00_xyz-Table Z0005_UltraII Filter0001.ome.tif").is_file()
    data = json.loads(truth.read_text())
    assert data["tiling"] == "2x1" and data["filters"] == {"488": 0, "647": 1} and len(data["cells_xyz"]) == 4
    assert [(t["column"], t["row"]) for t in data["tiles"]] == [(0, 0), (1, 0)]


def test_smartspim_atlas_stack_and_corrupt_commands(tmp_path, capsys):
    main(["smartspim", str(tmp_path / "res"), "--shape", "4,32,32", "--cells", "2", "--tiling", "2x1", "--no-stripes"])
    assert sorted(p.name for p in (tmp_path / "res" / "Ex_488_Em_0").iterdir()) == ["414020", "414300", "flat.tiff"]
    main(["atlas", str(tmp_path / "atlas"), "--max-side", "40", "--cells", "5"])
    assert {p.name for p in (tmp_path / "atlas").iterdir()} == {
        "template.tif",
        "annotation.tif",
        "ontology.json",
        "atlas.json",
    }
    main(["stack", str(tmp_path / "stack"), "--shape", "3,16,16", "--pattern", "noise"])
    assert len(list((tmp_path / "stack").iterdir())) == 3
    main(["corrupt", str(tmp_path / "res" / "Ex_642_Em_2"), "missing_tile_column"])
    assert "missing_tile_column: removed column folder 414300" in capsys.readouterr().out


def test_bad_arguments_exit_with_a_usage_message(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["lavision", str(tmp_path), "--tiling", "2 x 2"])
    with pytest.raises(SystemExit):
        main(["lavision", str(tmp_path), "--channels", "642"])
    assert "LaVision channels" in capsys.readouterr().err


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "lib.synth", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and "lavision" in result.stdout and "smartspim" in result.stdout
