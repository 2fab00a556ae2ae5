"""The imaging queue and its CSV: four tables of batches, each sorted and paginated in SQL; imaging staff and
admins see every batch, a self-imager their own."""

from __future__ import annotations

from lightserv.workflow import queue as wq
from schemas.enums import CLEARING_PROGRESS_LABELS, MICROSCOPE_LABELS

from .. import queries
from ..access import queue_route
from . import bp


def _microscopes() -> wq.Choice:
    return ("microscope", "Microscope", "All microscopes", [(m, MICROSCOPE_LABELS[m]) for m in queries.MICROSCOPES])


def _samples(table: str, row: dict) -> str:
    """The batch's number of samples, and how many are done while it is being imaged."""
    n = row["number_in_imaging_batch"]
    return f"{n} ({row['samples_done']} done)" if table == "in_progress" else str(n)


#: `?table=` name -> title, the action of its rows (none while the batch waits for clearing)
TABLES = {"in_progress": ("Being imaged", "Continue imaging"), "ready": ("Ready to image", "Open"),
          "waiting": ("Waiting for clearing", ""), "complete": ("Imaged", "View")}  # fmt: skip

QUEUE = wq.Queue(
    area="imaging",
    tables=TABLES,
    queries=queries,
    columns=(
        wq.SUBMITTED,
        wq.REQUEST,
        wq.OWNER,
        wq.Column("Microscope", "microscope", "microscope_label", "microscope", testid="microscope"),
        wq.Column("Resolutions", "resolutions", "resolutions", "resolutions"),
        wq.Column("Clearing batch", "clearing_batch", "clearing_batch_number", "clearing_batch"),
        wq.Column("Imaging request", "imaging_request", "imaging_request_number", "imaging_request"),
        wq.Column("Imaging batch", "imaging_batch", "imaging_batch_number", "imaging_batch"),
        wq.Column("Samples", "samples", "number_in_imaging_batch", "samples", "own", render=_samples),
        wq.Column("", None, "samples_done", "samples_done"),
        wq.person("Clearer", "clearer", tables=("waiting",)),
        wq.Column(
            "Clearing progress",
            "clearing_progress",
            "clearing_progress",
            "clearing_progress",
            "label",
            ("waiting",),
            labels=CLEARING_PROGRESS_LABELS,
        ),
        wq.person("Imager", "imager"),
        wq.SPECIES,
        wq.completed("complete"),
    ),  # fmt: skip
    own_note="You see the batches you image yourself.",
    key=(
        ("username", "username"),
        ("request_name", "request_name"),
        ("clearing_batch", "clearing_batch_number"),
        ("imaging_request", "imaging_request_number"),
        ("imaging_batch", "imaging_batch_number"),
    ),
    links=dict.fromkeys(("in_progress", "ready", "complete"), "imaging.batch_form"),
    new_tab=True,
    filter=queries.QueueFilter,
    choice=_microscopes,
)
wq.add_queue_routes(bp, QUEUE, queue_route)
