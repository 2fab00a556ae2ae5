"""Small file helpers shared by the SmartSPIM stages: JSON work files and 16-bit planes, both written to a
temporary name first and renamed, so a task killed half-way never leaves a truncated file behind."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tifffile

from ..errors import PipelineError

UINT16_MAX = 65535


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.part")


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path)
    temporary.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def read_json(path: Path, what: str, written_by: str) -> dict[str, Any]:
    """A work file of an earlier stage; a missing or damaged one is bad input (the stage must run first)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PipelineError(f"the {what} {path} does not exist: run the {written_by} stage first") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise PipelineError(f"the {what} {path} cannot be read: {exc}") from exc
    if not isinstance(document, dict):
        raise PipelineError(f"the {what} {path} is not a JSON object")
    return document


def to_uint16(image: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.uint16]:
    """Round and clip to the 16-bit range."""
    return np.asarray(np.clip(np.rint(image), 0, UINT16_MAX), dtype=np.uint16)


def write_plane(path: Path, plane: npt.NDArray[np.uint16]) -> None:
    temporary = _temporary(path)
    tifffile.imwrite(temporary, plane, photometric="minisblack")
    os.replace(temporary, path)


def read_image(path: Path) -> npt.NDArray[Any]:
    """One 2-D image; an unreadable file is bad input, named in the message."""
    try:
        image = np.asarray(tifffile.imread(path))
    except (OSError, ValueError, tifffile.TiffFileError) as exc:
        raise PipelineError(f"cannot read the image {path}: {exc}") from exc
    if image.ndim != 2:
        raise PipelineError(f"the image {path} has shape {image.shape}, expected one 2-D plane")
    return image
