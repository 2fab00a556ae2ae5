"""Folder and file names on shared storage. Paths are relative to DATA_ROOT.

One place for every naming convention, so ventral-up suffixes and resolution folders are spelled the
same everywhere."""

from __future__ import annotations

from pathlib import PurePosixPath

VENTRAL_UP_SUFFIX = "_ventral_up"


def vu_suffix(ventral_up: bool) -> str:
    return VENTRAL_UP_SUFFIX if ventral_up else ""


def request_dir(username: str, request_name: str) -> PurePosixPath:
    return PurePosixPath(username) / request_name


def sample_dir(username: str, request_name: str, sample_name: str) -> PurePosixPath:
    return request_dir(username, request_name) / sample_name


def imaging_request_dir(
    username: str, request_name: str, sample_name: str, imaging_request_number: int
) -> PurePosixPath:
    return sample_dir(username, request_name, sample_name) / f"imaging_request_{int(imaging_request_number)}"


def rawdata_dir(username: str, request_name: str, sample_name: str, imaging_request_number: int) -> PurePosixPath:
    return imaging_request_dir(username, request_name, sample_name, imaging_request_number) / "rawdata"


def resolution_folder_name(image_resolution: str, ventral_up: bool = False) -> str:
    return f"resolution_{image_resolution}{vu_suffix(ventral_up)}"


def rawdata_resolution_dir(
    username: str,
    request_name: str,
    sample_name: str,
    imaging_request_number: int,
    image_resolution: str,
    ventral_up: bool = False,
) -> PurePosixPath:
    return rawdata_dir(username, request_name, sample_name, imaging_request_number) / resolution_folder_name(
        image_resolution, ventral_up
    )


def output_dir(
    username: str,
    request_name: str,
    sample_name: str,
    imaging_request_number: int,
    processing_request_number: int,
    image_resolution: str,
    ventral_up: bool = False,
) -> PurePosixPath:
    return (
        imaging_request_dir(username, request_name, sample_name, imaging_request_number)
        / "output"
        / f"processing_request_{int(processing_request_number)}"
        / resolution_folder_name(image_resolution, ventral_up)
    )


def viz_dir(username: str, request_name: str, sample_name: str, imaging_request_number: int) -> PurePosixPath:
    return imaging_request_dir(username, request_name, sample_name, imaging_request_number) / "viz"


def runs_dir(username: str, request_name: str, sample_name: str, imaging_request_number: int) -> PurePosixPath:
    return imaging_request_dir(username, request_name, sample_name, imaging_request_number) / "runs"


def imaging_request_folders(
    username: str, request_name: str, sample_name: str, imaging_request_number: int, resolutions: list[tuple[str, bool]]
) -> list[PurePosixPath]:
    """Folders created when an imaging request is created: rawdata/<resolution>/, output/, viz/, runs/."""
    base = imaging_request_dir(username, request_name, sample_name, imaging_request_number)
    folders = [base / "rawdata"]
    folders += [
        rawdata_resolution_dir(username, request_name, sample_name, imaging_request_number, res, vu)
        for res, vu in resolutions
    ]
    folders += [base / "output", base / "viz", base / "runs"]
    return folders


# --- precomputed layers --------------------------------------------------------------

IMAGING_LEVEL_PRODUCTS = ("raw",)


def layer_name(
    product: str, channel: str, *, lightsheet: str = "none", ventral_up: bool = False, role: str = ""
) -> str:
    """`raw_ch488_left`, `blended_ch647_ventral_up`, `registered_ch488_regch`, `cells_registered_ch647`."""
    name = f"{product}_ch{channel}"
    if product in ("raw", "stitched"):
        name += f"_{lightsheet}"
    if product == "registered" and role:
        name += f"_{role}"
    return name + vu_suffix(ventral_up)


def layer_dir(
    username: str,
    request_name: str,
    sample_name: str,
    imaging_request_number: int,
    *,
    product: str,
    channel: str,
    image_resolution: str,
    ventral_up: bool = False,
    lightsheet: str = "none",
    processing_request_number: int = 0,
) -> PurePosixPath:
    """The layer's folder under `…/imaging_request_<N>/viz/` (resolution in the path)."""
    viz = viz_dir(username, request_name, sample_name, imaging_request_number)
    res = resolution_folder_name(image_resolution, ventral_up)
    if product == "raw":
        return viz / "raw" / res / f"ch{channel}_{lightsheet}_lightsheet"
    base = viz / f"processing_request_{int(processing_request_number)}" / res / product
    if product == "stitched":
        return base / f"ch{channel}_{lightsheet}_lightsheet"
    return base / f"ch{channel}"
