"""The demo requests: one request of the demo `researcher` in each state, built through
the product's own services by the demo staff accounts, as people would build them in the browser.

| request | state | how it got there |
|---|---|---|
| demo_pending | pending | filed |
| demo_clearing | clearing | `clearer` started the clearing batch |
| demo_imaging | imaging | `clearer` completed clearing: the batch waits in the imaging queue |
| demo_processing | processing | `imager` imaged it (2x2 tiles); `processor` started processing (queued) |
| demo_complete | complete | imaged at 1.3x (one tile) and 4x (2x2 tiles), processed during the seed |
| demo_failed | failed | imaged (2x2 tiles), a raw file damaged afterwards; processing failed |

The processed sample has every kind of LaVision layer: raw (1.3x, one tile, both light sheets), stitched (4x,
per light sheet), blended, downsized, registered and cells (1.3x), over the atlas overlay (atlas.py).
Raw data are synthetic LaVision acquisitions written by lib.synth under DATA_ROOT. The cluster work of the
complete and failed requests runs during the seed on the configured back end (the local executor in DEV).
A request that exists already (same name) is left as it is, so seeding twice adds nothing.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app

from lib.naming import rawdata_resolution_dir
from lib.synth import RESOLUTION_PIXEL_UM, Brain, LavisionTruth, make_brain, write_lavision
from lib.synth.names import format_tiling
from lightserv.db import get_schemas

from .accounts import roles_of
from .atlas import DEMO_ATLAS, demo_brain, ensure_demo_atlas
from .cluster import DemoError, run_until_settled

OWNER = "researcher"
RESOLUTION = "1.3x"
SUBFOLDER = "UltraII_acquisition"  # the raw data subfolder of every demo acquisition
STATES = ("pending", "clearing", "imaging", "processing", "complete", "failed")
Echo = Callable[[str], None]
Acquire = Callable[[Path], LavisionTruth]


@dataclass(frozen=True)
class Seeded:
    """One line of the seed's summary."""

    name: str
    state: str  # the request's state now (one of STATES)
    link: str  # the request's page
    created: bool  # False: it existed already and was left alone
    extra: str = ""  # a further link or a note


@dataclass
class _Context:
    backend: object
    registration: bool
    echo: Echo
    notes: list[str] = field(default_factory=list)


# --- keys -------------------------------------------------------------------------------------------


def _request_key(name: str) -> dict:
    return {"username": OWNER, "request_name": name}


def _clearing_key(name: str) -> dict:
    return {**_request_key(name), "clearing_batch_number": 1}


def _imaging_key(name: str) -> dict:
    return {**_clearing_key(name), "imaging_request_number": 1, "imaging_batch_number": 1}


def _processing_key(name: str, sample: str) -> dict:
    return {**_request_key(name), "sample_name": sample, "imaging_request_number": 1, "processing_request_number": 1}


# --- the steps people take --------------------------------------------------------------------------


def _file(name: str, sample: str, resolutions: dict[str, dict[str, str]], description: str) -> None:
    """The researcher files a request: one mouse brain, cleared with iDISCO abbreviated, imaged at each
    resolution with its channels (wavelength -> purpose); the demo auditor may read it."""
    from lightserv.requests.services import submit_request
    from lightserv.requests.submission import ChannelWish, NewRequest, ResolutionWish, SampleWish

    settings = current_app.config["SETTINGS"]
    wishes = [
        ResolutionWish(res, [ChannelWish(w, **{purpose: True}) for w, purpose in channels.items()])
        for res, channels in resolutions.items()
    ]
    sample_wish = SampleWish(
        sample, "idisco_abbreviated", expected_handoff_date=dt.date.today() + dt.timedelta(days=7), resolutions=wishes
    )
    submit_request(
        NewRequest(
            owner=OWNER, request_name=name, description=description, labname="Demo Lab",
            correspondence_email=f"{OWNER}@{settings.email_domain}", species="mouse", number_of_samples=1,
            raw_data_retention_preference="not_sure", auditors=["auditor"], samples=[sample_wish],
        ),
        OWNER,
    )  # fmt: skip


def _start_clearing(name: str) -> None:
    from lightserv.clearing.services import start_batch

    start_batch(_clearing_key(name), "clearer", roles_of("clearer"))


def _finish_clearing(name: str) -> None:
    """The clearer records every step, an hour apart and ending now, then completes the batch."""
    from lightserv.clearing.services import complete_batch, read_current_form
    from lightserv.common.timefmt import to_local

    _start_clearing(name)
    key = _clearing_key(name)
    proto, form = read_current_form(key)
    now = to_local(dt.datetime.now(dt.UTC), current_app.config["SETTINGS"].display_timezone)
    for hours_ago, step in enumerate(reversed(proto.steps)):
        form[f"step-{step.key}-time"] = (now - dt.timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M")
    complete_batch(key, form, "clearer", roles_of("clearer"))


def _image(name: str, sample: str, acquisitions: dict[str, Acquire]) -> dict[str, LavisionTruth]:
    """The imager starts the imaging batch, the microscope writes the raw data of each resolution
    (`acquisitions`), the imager submits the sample (its raw data are validated on disk, which completes it and
    starts the raw-layer conversions of single-tile channels) and completes the batch."""
    from lightserv.imaging.batch_services import start_batch
    from lightserv.imaging.sample_services import complete_batch, submit_sample
    from lightserv.imaging.tasks import run_validation

    key, roles = _imaging_key(name), roles_of("imager")
    start_batch(key, "imager", roles)
    root = Path(current_app.config["SETTINGS"].data_root)
    truths, rows = {}, {}
    for res, acquire in acquisitions.items():
        folder = root / rawdata_resolution_dir(OWNER, name, sample, 1, res) / SUBFOLDER
        shutil.rmtree(folder, ignore_errors=True)  # left over from an earlier seed of a since-deleted request
        truth = truths[res] = acquire(folder)
        values = dict(
            image_orientation="horizontal", left_lightsheet_used="y", right_lightsheet_used="y",
            tiling_scheme=format_tiling(truth.grid.tiling), tiling_overlap=str(truth.grid.overlap),
            z_step=str(truth.z_step_um), number_of_z_planes=str(truth.n_planes), rawdata_subfolder=SUBFOLDER,
        )  # fmt: skip
        rows.update({(res, wavelength, False): values for wavelength in truth.filters})
    member = submit_sample(key, sample, rows, "Synthetic demo acquisition (lib.synth).", "imager", roles)
    if run_validation(member, "imager") != 0:
        messages = (get_schemas().lightsheet.Request.ImagingRequest & member).fetch1("validation_messages")
        raise DemoError(f"the raw data of {name}/{sample} did not pass validation: {messages}")
    complete_batch(key, "imager", roles)
    return truths


def _start_processing(name: str, sample: str, notes: str) -> list[int]:
    """The processor presses "Start processing" (every check of the entry form runs)."""
    from lightserv.processing.start import StartInput, StartRefused, start_processing

    try:
        return start_processing(_processing_key(name, sample), StartInput(notes=notes), "processor")
    except StartRefused as exc:
        raise DemoError(f"processing of {name}/{sample} could not start: {exc.message}") from None


def _process(ctx: _Context, name: str, sample: str, notes: str) -> str:
    """Start processing and run it (and every conversion) to the end; returns the processing state."""
    from lightserv.runs.submission import launch

    launch(_start_processing(name, sample, notes), ctx.backend)
    run_until_settled(ctx.backend, _request_key(name))
    return (get_schemas().lightsheet.Request.ProcessingRequest & _processing_key(name, sample)).fetch1(
        "processing_progress"
    )


def _small_tiled(seed: int, resolution: str = RESOLUTION, channel: str = "488") -> Acquire:
    """A small 2x2-tiled, two-sheet acquisition of one channel at `resolution`'s pixel size."""
    pixel = RESOLUTION_PIXEL_UM[resolution]
    brain = make_brain((8, 64, 64), seed, voxel_size_um=(pixel, pixel, 10.0), n_cells=5)
    return lambda folder: write_lavision(folder, brain, tiling=(2, 2), overlap=0.1, channels=(channel,), z_step_um=10.0)


def _single_tile(brain: Brain) -> Acquire:
    """A single-tile, two-sheet acquisition of 488 and 647 (raw layers are made of single-tile data)."""
    return lambda folder: write_lavision(folder, brain, tiling=(1, 1), channels=("488", "647"), z_step_um=10.0)


# --- the requests -----------------------------------------------------------------------------------


REGISTERED = {"488": "registration", "647": "cell_detection"}
ONE_CHANNEL = {"488": "generic_imaging"}
SECOND_RESOLUTION = "4x"  # the processed sample's tiled acquisition (its stitched layers)
#: the channel imaged at 4x (a third colour, so the demo shows three channels)
SECOND_CHANNEL = "555"


def _pending(ctx: _Context) -> None:
    _file("demo_pending", "mouse_01", {RESOLUTION: REGISTERED},
          "Demo: just filed. The facility has not received the brain yet.")  # fmt: skip


def _clearing(ctx: _Context) -> None:
    _file("demo_clearing", "mouse_02", {RESOLUTION: REGISTERED},
          "Demo: the clearer has started clearing this brain.")  # fmt: skip
    _start_clearing("demo_clearing")


def _imaging(ctx: _Context) -> None:
    _file("demo_imaging", "mouse_03", {RESOLUTION: REGISTERED},
          "Demo: cleared; waiting in the imaging queue.")  # fmt: skip
    _finish_clearing("demo_imaging")


def _processing(ctx: _Context) -> None:
    _file("demo_processing", "mouse_04", {RESOLUTION: ONE_CHANNEL},
          "Demo: imaged in 2x2 tiles; processing was started and waits for the worker.")  # fmt: skip
    _finish_clearing("demo_processing")
    _image("demo_processing", "mouse_04", {RESOLUTION: _small_tiled(4)})
    _start_processing("demo_processing", "mouse_04", "Demo: stitching and downsizing.")


def _complete(ctx: _Context) -> None:
    """1.3x single tile (raw layers; registration and cell detection) and 4x in 2x2 tiles (stitched layers)."""
    whole = REGISTERED if ctx.registration else dict.fromkeys(REGISTERED, "generic_imaging")
    tiled = {SECOND_CHANNEL: "generic_imaging"}
    _file("demo_complete", "mouse_05", {RESOLUTION: whole, SECOND_RESOLUTION: tiled},
          "Demo: imaged at 1.3x and 4x (2x2 tiles) and processed; every layer opens in Neuroglancer.")  # fmt: skip
    _finish_clearing("demo_complete")
    acquisitions = {
        RESOLUTION: _single_tile(demo_brain()),
        SECOND_RESOLUTION: _small_tiled(5, SECOND_RESOLUTION, SECOND_CHANNEL),
    }
    _image("demo_complete", "mouse_05", acquisitions)
    ctx.echo("  processing demo_complete on the cluster back end (about a minute)...")
    state = _process(ctx, "demo_complete", "mouse_05", "Demo: registration and cell detection at 1.3x.")
    if state != "complete":
        row = get_schemas().lightsheet.Request.ProcessingRequest & _processing_key("demo_complete", "mouse_05")
        raise DemoError(f"processing of demo_complete ended {state}: {row.fetch1('failure_summary')}")


def _failed(ctx: _Context) -> None:
    _file("demo_failed", "mouse_06", {RESOLUTION: ONE_CHANNEL},
          "Demo: one raw file was damaged after imaging, so processing failed.")  # fmt: skip
    _finish_clearing("demo_failed")
    truth = _image("demo_failed", "mouse_06", {RESOLUTION: _small_tiled(6)})[RESOLUTION]
    truth.path(1, 0, "left", truth.n_planes // 2, "488").write_bytes(b"damaged after imaging\n")
    ctx.echo("  processing demo_failed on the cluster back end (it fails at stitching)...")
    state = _process(ctx, "demo_failed", "mouse_06", "Demo: stitching a damaged acquisition.")
    if state != "failed":
        raise DemoError(f"processing of demo_failed ended {state}, not failed")


BUILDERS: dict[str, Callable[[_Context], None]] = {
    "demo_pending": _pending,
    "demo_clearing": _clearing,
    "demo_imaging": _imaging,
    "demo_processing": _processing,
    "demo_complete": _complete,
    "demo_failed": _failed,
}


# --- state and summary ------------------------------------------------------------------------------


def request_state(name: str, owner: str = OWNER) -> str:
    """Where a request is now, in the words of the module's table (one of STATES)."""
    ls = get_schemas().lightsheet
    key = {"username": owner, "request_name": name}
    processing = [r["processing_progress"] for r in (ls.Request.ProcessingRequest & key).to_dicts()]
    if "failed" in processing:
        return "failed"
    clearing = [r["clearing_progress"] for r in (ls.Request.ClearingBatch & key).to_dicts()]
    if all(c == "pending" for c in clearing):
        return "pending"
    if any(c != "complete" for c in clearing):
        return "clearing"
    if any(r["imaging_progress"] == "pending" for r in (ls.Request.ImagingRequest & key).to_dicts()):
        return "imaging"
    if any(p != "complete" for p in processing):
        return "processing"
    return "complete"


def _links(name: str) -> tuple[str, str]:
    """The request's page and, for a processed request, its first sample's viewer setup page."""
    adapter = current_app.url_map.bind("localhost")
    link = adapter.build("requests.overview", {"username": OWNER, "request_name": name})
    ls = get_schemas().lightsheet
    done = (ls.Request.ProcessingRequest & _request_key(name) & {"processing_progress": "complete"}).to_dicts(
        order_by=["sample_name"], limit=1
    )
    if not done or "viewer.setup" not in current_app.view_functions:
        return link, ""
    pkey = {k: done[0][k] for k in _processing_key(name, "")}
    return link, "layers: " + adapter.build("viewer.setup", pkey)


def seed_demo_requests(backend=None, echo: Echo | None = None) -> list[Seeded]:
    """Create the demo requests that do not exist yet (the demo accounts must exist: `seed_demo`); returns
    one summary line per request. Runs the cluster work of the complete and failed requests on `backend`
    (default: the configured one)."""
    from lightserv.runs.backend import get_backend

    echo = echo or (lambda _text: None)
    ls = get_schemas().lightsheet
    missing = [u for u in (OWNER, "clearer", "imager", "processor", "auditor") if not (ls.User & {"username": u})]
    if missing:
        raise DemoError(f"the demo accounts {', '.join(missing)} do not exist; create them first (seed_demo)")
    todo = [name for name in BUILDERS if not (ls.Request & _request_key(name))]
    atlas = ensure_demo_atlas(DEMO_ATLAS)  # every time: `init-db` resets the atlas row's voxel size
    echo(f"Atlas: {atlas.message}")
    ctx = _Context(backend=backend, registration=False, echo=echo)
    if todo:
        ctx.backend = backend or get_backend()
        ctx.registration = atlas.usable
        if "demo_complete" in todo and not ctx.registration:
            ctx.notes.append(f"registration skipped: {atlas.message}")
            echo(f"  demo_complete is processed without registration and cell detection: {atlas.message}")
    seeded = []
    for name, build in BUILDERS.items():
        created = name in todo
        if created:
            echo(f"Seeding {name}...")
            build(ctx)
        link, extra = _links(name)
        if name == "demo_complete" and created and ctx.notes:
            extra = "; ".join([extra, *ctx.notes]) if extra else "; ".join(ctx.notes)
        seeded.append(Seeded(name, request_state(name), link, created, extra))
    return seeded
