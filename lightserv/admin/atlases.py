"""Installing an atlas (`flask --app run:app install-atlas`).

An atlas lives in `ATLAS_ROOT/<atlas_name>/` as the registration stages and the viewer expect it
(lib.pipeline.registration, lightserv.processing.params, lightserv.viewer.catalogue):

    template.tif      registration target volume, a 3-D multi-page TIFF (pages = z)
    annotation.tif    label volume on the same grid (non-negative integers, 0 = outside the brain)
    ontology.json     Allen-style structure graph: objects with `id`, `name` (optional `acronym`), nested
                      under `children`, or `{"msg": [...]}`, or a flat list
    precomputed/      Neuroglancer segmentation layer of the annotation with its region names

`install_atlas` checks the three files (readable TIFFs of one shape, an integer annotation, an ontology that
names every label of the annotation) and reports every problem at once; then it builds the whole folder in a
staging folder next to the target (same file system), renames the current folder aside and the staging folder
into place, and records the files in the `Atlas` row (paths, `is_active`) with an `atlas.installed` event.
The previous folder is kept as `ATLAS_ROOT/.<atlas_name>.previous/` until the next installation; if the
database cannot be updated, it is put back. Voxel sizes are the catalogue's: the files
must be at that resolution.
"""

from __future__ import annotations

import datetime as dt
import grp
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from flask import current_app

from lightserv.common.audit import record_event
from lightserv.common.errors import DomainError
from lightserv.db import get_schemas
from schemas import catalogue
from schemas.enums import ATLAS_LABELS, ATLAS_NAME

TEMPLATE = "template.tif"
ANNOTATION = "annotation.tif"
ONTOLOGY = "ontology.json"
PRECOMPUTED = "precomputed"
MAX_LISTED = 12


class AtlasInstallError(DomainError):
    """The atlas was not installed; `problems` says why (every one found)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class CheckedFiles:
    shape: tuple[int, int, int]  # (z, y, x)
    template_dtype: str
    annotation_dtype: str
    labels: list[int]  # non-zero labels of the annotation
    regions: int  # structures named in the ontology
    problems: list[str] = field(default_factory=list)


def _read_volume(path: Path, what: str, problems: list[str]) -> np.ndarray | None:
    if not path.is_file():
        problems.append(f"The {what} {path} does not exist or is not a file.")
        return None
    if not os.access(path, os.R_OK):
        problems.append(f"The {what} {path} is not readable by this account.")
        return None
    try:
        volume = np.squeeze(np.asarray(tifffile.imread(path)))
    except (OSError, ValueError, IndexError, MemoryError, tifffile.TiffFileError) as exc:
        problems.append(f"The {what} {path} is not a readable TIFF ({exc}).")
        return None
    if volume.ndim != 3 or min(volume.shape) < 2:
        problems.append(f"The {what} {path} must be a 3-D stack (several pages), but its shape is {volume.shape}.")
        return None
    return volume


def _ontology_ids(path: Path, problems: list[str]) -> set[int] | None:
    """Ids of the ontology's structures; problems named as the viewer's segment-properties stage sees them."""
    from lib.precomputed.errors import ConversionError
    from lib.precomputed.segment_properties import read_ontology

    if not path.is_file():
        problems.append(f"The ontology {path} does not exist or is not a file.")
        return None
    if path.suffix.lower() != ".json":
        problems.append(f"The ontology {path} must be a JSON file (.json).")
        return None
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"The ontology {path} is not readable JSON ({exc}).")
        return None
    try:
        regions = read_ontology(path)
    except ConversionError as exc:
        problems.append(f"The ontology is not usable: {exc}.")
        return None
    return {region_id for region_id, _name, _acronym in regions}


def check_files(template: Path, annotation: Path, ontology: Path) -> CheckedFiles:
    """Every problem of the three files (the caller refuses to install when there is one)."""
    problems: list[str] = []
    template_volume = _read_volume(template, "template", problems)
    annotation_volume = _read_volume(annotation, "annotation", problems)
    ids = _ontology_ids(ontology, problems)
    shape: tuple[int, int, int] = (0, 0, 0)
    labels: list[int] = []
    if template_volume is not None:
        shape = tuple(int(n) for n in template_volume.shape)  # type: ignore[assignment]
        if template_volume.dtype.kind not in "uif":
            problems.append(f"The template holds {template_volume.dtype} values; it must hold numbers.")
    if annotation_volume is not None:
        if template_volume is not None and annotation_volume.shape != template_volume.shape:
            problems.append(
                f"The annotation is {_zyx(annotation_volume.shape)} but the template is {_zyx(template_volume.shape)} "
                "(z, y, x); both must be on the same grid."
            )
        kind = annotation_volume.dtype.kind
        if kind == "f" and np.all(np.mod(annotation_volume, 1) == 0):
            annotation_volume = annotation_volume.astype(np.int64)
            kind = "i"
        if kind not in "iu":
            problems.append(f"The annotation holds {annotation_volume.dtype} values; labels must be whole numbers.")
        else:
            values = np.unique(annotation_volume)
            if values.size and values[0] < 0:
                problems.append(f"The annotation holds negative labels (e.g. {int(values[0])}); labels are 0 or more.")
            labels = [int(v) for v in values if v > 0]
            if not labels:
                problems.append("The annotation holds no labels (every voxel is 0).")
            if ids is not None:
                missing = [v for v in labels if v not in ids]
                if missing:
                    listed = ", ".join(str(v) for v in missing[:MAX_LISTED]) + (
                        " …" if len(missing) > MAX_LISTED else ""
                    )
                    problems.append(
                        f"{len(missing)} label{'s' if len(missing) != 1 else ''} of the annotation "
                        f"{'are' if len(missing) != 1 else 'is'} not in the ontology: {listed}. Every label needs a "
                        "structure with that id (its name is shown in the viewer and the cell counts)."
                    )
    return CheckedFiles(
        shape=shape,
        template_dtype=str(template_volume.dtype) if template_volume is not None else "",
        annotation_dtype=str(annotation_volume.dtype) if annotation_volume is not None else "",
        labels=labels,
        regions=len(ids or ()),
        problems=problems,
    )


def _zyx(shape: tuple[int, ...]) -> str:
    return "×".join(str(n) for n in shape)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    with target.open("rb") as handle:
        os.fsync(handle.fileno())


def _build_layer(folder: Path, annotation: Path, ontology: Path, voxel_um: tuple[float, float, float],
                 max_label: int) -> int:  # fmt: skip
    """The segmentation layer of the annotation with region names; returns its number of scales."""
    from lib.precomputed.cli import run_stage
    from lib.precomputed.params import parse_params

    work = folder.parent / f"{folder.name}-work"
    work.mkdir(parents=True, exist_ok=True)
    doc = {
        "layer_path": str(folder),
        "layer_type": "segmentation",
        "data_type": "uint32" if max_label < 2**32 else "uint64",
        "input_path": str(annotation),
        "progress_dir": str(work / "progress"),
        "voxel_size_nm": [v * 1000.0 for v in voxel_um],
        "ontology_path": str(ontology),
    }
    params = parse_params(doc)
    run_stage("info", params)
    info = json.loads((folder / "info").read_text())
    run_stage("upload", params)
    if len(info["scales"]) > 1:
        run_stage("downsample", params)
    run_stage("segment_properties", params)
    shutil.rmtree(work, ignore_errors=True)
    return len(info["scales"])


def _permissions(folder: Path, group: str) -> None:
    """Directories 2750 and files 640, group DATA_GROUP when configured: readable by the facility data group."""
    gid = grp.getgrnam(group).gr_gid if group else -1
    for path in [folder, *folder.rglob("*")]:
        if gid != -1:
            os.chown(path, -1, gid, follow_symlinks=False)
        os.chmod(path, 0o2750 if path.is_dir() else 0o640)


@dataclass
class Installed:
    atlas_name: str
    folder: Path
    shape: tuple[int, int, int]
    labels: int
    regions: int
    scales: int
    previous: Path | None


def install_atlas(
    name: str,
    template: Path,
    annotation: Path,
    ontology: Path,
    *,
    precomputed: bool = True,
    activate: bool = True,
    actor: str | None = None,
) -> Installed:
    """Check, copy into ATLAS_ROOT/<name>/ by renaming a complete staging folder, register the row."""
    if name not in ATLAS_NAME:
        raise AtlasInstallError([f"Unknown atlas {name!r}; the atlases are {', '.join(ATLAS_NAME)}."])
    template, annotation, ontology = (Path(p).expanduser().resolve() for p in (template, annotation, ontology))
    checked = check_files(template, annotation, ontology)
    if checked.problems:
        raise AtlasInstallError(checked.problems)
    settings = current_app.config["SETTINGS"]
    root = Path(settings.atlas_root)
    entry = next(a for a in catalogue.ATLASES if a.atlas_name == name)
    voxel_um = (entry.voxel_x_um, entry.voxel_y_um, entry.voxel_z_um)
    target = root / name
    staging = root / f".{name}.install-{os.getpid()}"
    previous = root / f".{name}.previous"
    try:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        _copy(template, staging / TEMPLATE)
        _copy(annotation, staging / ANNOTATION)
        _copy(ontology, staging / ONTOLOGY)
        scales = 0
        if precomputed:
            scales = _build_layer(staging / PRECOMPUTED, staging / ANNOTATION, staging / ONTOLOGY, voxel_um,
                                  max(checked.labels))  # fmt: skip
        _permissions(staging, settings.data_group)
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise AtlasInstallError([f"Could not prepare the files in {root}: {exc}"]) from exc
    digests = {f: _sha256(staging / f) for f in (TEMPLATE, ANNOTATION, ONTOLOGY)}

    # the swap: the current folder aside, the complete staging folder into place
    shutil.rmtree(previous, ignore_errors=True)
    kept: Path | None = None
    if target.exists():
        os.rename(target, previous)
        kept = previous
    os.rename(staging, target)
    try:
        _register(name, entry.label, activate, checked, scales, digests, actor)
    except Exception as exc:
        os.rename(target, staging)
        if kept is not None:
            os.rename(previous, target)
        shutil.rmtree(staging, ignore_errors=True)
        raise AtlasInstallError([f"The Atlas row could not be updated; the previous files are back: {exc}"]) from exc
    return Installed(name, target, checked.shape, len(checked.labels), checked.regions, scales, kept)


def _register(name: str, label: str, activate: bool, checked: CheckedFiles, scales: int, digests: dict[str, str],
              actor: str | None) -> None:  # fmt: skip
    schemas = get_schemas()
    table, conn = schemas.lightsheet.Atlas, schemas.connection
    row: dict[str, Any] = {
        "atlas_name": name,
        "template_path": f"{name}/{TEMPLATE}",
        "annotation_path": f"{name}/{ANNOTATION}",
        "precomputed_path": f"{name}/{PRECOMPUTED}",
        "is_active": int(activate),
    }
    with conn.transaction:
        before = (table & {"atlas_name": name}).to_dicts()
        if before:
            table.update1(row)
        else:
            entry = next(a for a in catalogue.ATLASES if a.atlas_name == name)
            table.insert1({**row, "label": label, "voxel_x_um": entry.voxel_x_um, "voxel_y_um": entry.voxel_y_um,
                           "voxel_z_um": entry.voxel_z_um})  # fmt: skip
        record_event(
            "atlas.installed",
            "atlas",
            {"atlas_name": name},
            f"Atlas {ATLAS_LABELS.get(name, name)} installed ({_zyx(checked.shape)} voxels, {len(checked.labels)} "
            f"labels, {scales} precomputed scales)",
            before={k: before[0][k] for k in row} if before else None,
            after={
                **row,
                "shape_zyx": list(checked.shape),
                "labels": len(checked.labels),
                "regions": checked.regions,
                "sha256": digests,
                "installed_at": dt.datetime.now(dt.UTC).isoformat(),
            },  # fmt: skip
            actor=actor,
            dj_conn=conn,
        )
