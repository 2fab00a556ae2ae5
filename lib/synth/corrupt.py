"""Break a generated acquisition folder in one controlled way, for raw-data validation tests. `corrupt(folder, kind)`
takes a LaVision acquisition folder or a SmartSPIM channel
subfolder, changes it in place (only under `folder`, or renames `folder` itself) and says what it did.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from .names import (
    LAVISION_NAME_RE,
    SMARTSPIM_PLANE_RE,
    SMARTSPIM_ROW_RE,
    STAGE_DIGITS_RE,
    lavision_file_name,
    smartspim_row_folder,
    stage_digits,
)

CorruptionKind = Literal[
    "missing_plane",  # one plane file deleted
    "extra_plane",  # one plane beyond the acquired range
    "extra_tile_row",  # LaVision: a whole row YY = rows; SmartSPIM: one more row folder in the last column
    "extra_tile_column",  # one more tile column (all its files / folders)
    "missing_tile_column",  # the last tile column removed
    "wrong_sheet_code",  # LaVision: one file's C<LL> changed to a code the sheets do not allow
    "wrong_filter_index",  # LaVision: one file's Filter index changed to an unused one
    "missing_tile_bracket",  # LaVision: tile [00 x 00] files written without the bracket (tiled data)
    "mismatched_row_folder",  # SmartSPIM: a row folder whose first 6 digits differ from its column
    "stray_file",  # an unrelated file that matches no convention (ignored or counted, never an error)
    "renamed_subfolder",  # the folder itself renamed, so the entered subfolder does not exist
]
CORRUPTION_KINDS: tuple[str, ...] = get_args(CorruptionKind)


@dataclass(frozen=True)
class Corruption:
    kind: str
    microscope: str  # "lavision" or "smartspim"
    folder: Path  # the folder after the change (differs from the input for renamed_subfolder)
    removed: tuple[Path, ...]
    added: tuple[Path, ...]
    detail: str


@dataclass(frozen=True)
class _LavisionFile:
    path: Path
    prefix: str
    column: int
    row: int
    sheet: int
    z: int
    filter: int
    ext: str
    bracket: bool

    def renamed(self, **changes: int | bool) -> Path:
        values: dict[str, int | bool] = {
            "column": self.column, "row": self.row, "sheet": self.sheet, "z": self.z,
            "filter": self.filter, "bracket": self.bracket,
        }  # fmt: skip
        values.update(changes)
        name = lavision_file_name(
            self.prefix,
            int(values["column"]),
            int(values["row"]),
            f"C{int(values['sheet']):02d}",
            int(values["z"]),
            int(values["filter"]),
            extension=self.ext,
            bracket=bool(values["bracket"]),
        )
        return self.path.with_name(name)


def _lavision_files(folder: Path) -> list[_LavisionFile]:
    files = []
    for path in sorted(folder.iterdir()):
        match = LAVISION_NAME_RE.match(path.name)
        if match and path.is_file():
            files.append(
                _LavisionFile(
                    path=path,
                    prefix=match["prefix"],
                    column=int(match["column"] or 0),
                    row=int(match["row"] or 0),
                    sheet=int(match["sheet"]),
                    z=int(match["z"]),
                    filter=int(match["filter"]),
                    ext=match["ext"],
                    bracket=match["column"] is not None,
                )
            )
    return files


def _link(source: Path, target: Path) -> Path:
    """A new file with the same content: a hard link where possible (instant, no space), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target


def _rename_folder(folder: Path, kind: str, microscope: str) -> Corruption:
    target = folder.with_name(folder.name + "_moved")
    folder.rename(target)
    return Corruption(kind, microscope, target, (folder,), (target,), f"renamed {folder.name} to {target.name}")


def _corrupt_lavision(folder: Path, kind: str, rng: np.random.Generator) -> Corruption:
    files = _lavision_files(folder)
    if not files:
        raise ValueError(f"{folder} holds no LaVision raw files")
    pick = files[int(rng.integers(len(files)))]
    columns = max(f.column for f in files) + 1
    rows = max(f.row for f in files) + 1

    def done(removed: list[Path], added: list[Path], detail: str) -> Corruption:
        return Corruption(kind, "lavision", folder, tuple(removed), tuple(added), detail)

    if kind == "missing_plane":
        pick.path.unlink()
        return done([pick.path], [], f"removed {pick.path.name}")
    if kind == "extra_plane":
        last = max(f.z for f in files)
        target = _link(pick.path, pick.renamed(z=last + 1))
        return done([], [target], f"added plane Z{last + 1:04d}: {target.name}")
    if kind in ("extra_tile_row", "extra_tile_column"):
        row_wise = kind == "extra_tile_row"
        added = [
            _link(f.path, f.renamed(row=rows) if row_wise else f.renamed(column=columns))
            for f in files
            if (f.row == rows - 1 if row_wise else f.column == columns - 1)
        ]
        where = f"row {rows:02d}" if row_wise else f"column {columns:02d}"
        return done([], added, f"added tile {where} ({len(added)} files)")
    if kind == "missing_tile_column":
        if columns < 2:
            raise ValueError("missing_tile_column needs an acquisition with at least two tile columns")
        removed = [f.path for f in files if f.column == columns - 1]
        for path in removed:
            path.unlink()
        return done(removed, [], f"removed tile column {columns - 1:02d} ({len(removed)} files)")
    if kind == "wrong_sheet_code":
        sheets = {f.sheet for f in files}
        wrong = 2 if len(sheets) > 1 else 1
        target = pick.path.rename(pick.renamed(sheet=wrong))
        return done([pick.path], [target], f"renamed {pick.path.name} to {target.name}")
    if kind == "wrong_filter_index":
        unused = max(f.filter for f in files) + 1
        target = pick.path.rename(pick.renamed(filter=unused))
        return done([pick.path], [target], f"renamed {pick.path.name} to {target.name}")
    if kind == "missing_tile_bracket":
        if columns * rows < 2:
            raise ValueError("missing_tile_bracket needs a tiled acquisition")
        first = [f for f in files if (f.column, f.row) == (0, 0)]
        targets = [f.path.rename(f.renamed(bracket=False)) for f in first]
        return done([f.path for f in first], targets, f"removed the tile bracket from {len(first)} files of [00 x 00]")
    if kind == "stray_file":
        target = folder / "acquisition notes.txt"
        target.write_text("not a raw data file\n")
        return done([], [target], f"added {target.name}")
    if kind == "renamed_subfolder":
        return _rename_folder(folder, kind, "lavision")
    raise ValueError(f"corruption {kind!r} does not apply to LaVision data")


def _smartspim_tree(folder: Path) -> dict[Path, list[Path]]:
    """Column folder -> its row folders (both sorted), following the naming rules loosely."""
    columns = sorted(p for p in folder.iterdir() if p.is_dir() and STAGE_DIGITS_RE.match(p.name))
    return {c: sorted(p for p in c.iterdir() if p.is_dir() and SMARTSPIM_ROW_RE.match(p.name)) for c in columns}


def _planes(tile: Path) -> list[Path]:
    return sorted(p for p in tile.iterdir() if SMARTSPIM_PLANE_RE.match(p.name))


def _copy_tree(source: Path, target: Path, rename: Callable[[str], str] = lambda name: name) -> list[Path]:
    target.mkdir()
    added = []
    for path in sorted(source.iterdir()):
        if path.is_dir():
            added += _copy_tree(path, target / rename(path.name), rename)
        else:
            added.append(_link(path, target / path.name))
    return added


def _corrupt_smartspim(folder: Path, kind: str, rng: np.random.Generator) -> Corruption:
    tree = _smartspim_tree(folder)
    tiles = [row for rows in tree.values() for row in rows]
    if not tiles:
        raise ValueError(f"{folder} holds no SmartSPIM tile folders")
    tile = tiles[int(rng.integers(len(tiles)))]
    last_column = max(tree)

    def done(removed: list[Path], added: list[Path], detail: str) -> Corruption:
        return Corruption(kind, "smartspim", folder, tuple(removed), tuple(added), detail)

    if kind == "missing_plane":
        planes = _planes(tile)
        victim = planes[int(rng.integers(len(planes)))]
        victim.unlink()
        return done([victim], [], f"removed {victim.relative_to(folder)}")
    if kind == "extra_plane":
        planes = _planes(tile)
        values = [int(SMARTSPIM_PLANE_RE.match(p.name)["z"]) for p in planes]  # type: ignore[index]
        step = values[1] - values[0] if len(values) > 1 else 10
        target = _link(planes[-1], tile / f"{stage_digits(values[-1] + step)}{planes[-1].suffix}")
        return done([], [target], f"added {target.relative_to(folder)}")
    if kind == "extra_tile_row":
        rows = tree[last_column]
        y_values = [int(r.name.split("_")[1]) for r in rows]
        step = y_values[1] - y_values[0] if len(y_values) > 1 else 10_000
        new_row = last_column / smartspim_row_folder(int(last_column.name), y_values[-1] + step)
        return done([], _copy_tree(rows[-1], new_row), f"added row folder {new_row.relative_to(folder)}")
    if kind == "extra_tile_column":
        x_values = [int(c.name) for c in tree]
        step = x_values[1] - x_values[0] if len(x_values) > 1 else 10_000
        new_x = stage_digits(x_values[-1] + step)
        new_column = folder / new_x
        added = _copy_tree(last_column, new_column, lambda name: re.sub(r"^\d{6}_", f"{new_x}_", name))
        return done([], added, f"added column folder {new_x} ({len(tree[last_column])} rows)")
    if kind == "missing_tile_column":
        if len(tree) < 2:
            raise ValueError("missing_tile_column needs an acquisition with at least two tile columns")
        shutil.rmtree(last_column)
        return done([last_column], [], f"removed column folder {last_column.name}")
    if kind == "mismatched_row_folder":
        column = tile.parent
        wrong = stage_digits((int(column.name) + 1) % 1_000_000)
        target = tile.rename(column / f"{wrong}_{tile.name.split('_')[1]}")
        return done([tile], [target], f"renamed {tile.relative_to(folder)} to {target.relative_to(folder)}")
    if kind == "stray_file":
        target = folder / "metadata.txt"
        target.write_text("Obj\tRes\n3.6x\t1.866\n")
        return done([], [target], f"added {target.name}")
    if kind == "renamed_subfolder":
        return _rename_folder(folder, kind, "smartspim")
    raise ValueError(f"corruption {kind!r} does not apply to SmartSPIM data")


def corrupt(folder: Path, kind: CorruptionKind | str, *, seed: int = 0) -> Corruption:
    """Apply one corruption of `CORRUPTION_KINDS` to a LaVision acquisition folder or a SmartSPIM channel
    subfolder. Which file or tile is hit is chosen with `seed`, so tests are repeatable."""
    if kind not in CORRUPTION_KINDS:
        raise ValueError(f"unknown corruption {kind!r}; choose from {', '.join(CORRUPTION_KINDS)}")
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    rng = np.random.default_rng(seed)
    if any(LAVISION_NAME_RE.match(p.name) for p in folder.iterdir()):
        return _corrupt_lavision(folder, kind, rng)
    if any(p.is_dir() and STAGE_DIGITS_RE.match(p.name) for p in folder.iterdir()):
        return _corrupt_smartspim(folder, kind, rng)
    raise ValueError(f"{folder} is neither a LaVision acquisition folder nor a SmartSPIM channel subfolder")
