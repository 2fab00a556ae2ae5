"""The clearing queue and its CSV: three tables of batches, each sorted and paginated in SQL; clearing staff
and admins see every batch, a self-clearer their own."""

from __future__ import annotations

from markupsafe import Markup

from lightserv.requests.queries.protocols import list_protocols
from lightserv.workflow import queue as wq
from schemas.enums import CLEARING_PROGRESS_LABELS

from .. import queries
from ..access import queue_route
from . import bp


def _protocol(_table: str, row: dict) -> Markup:
    """The protocol's name after a swatch of its colour."""
    return SWATCH % (row["colour"], row["protocol_label"])


SWATCH = Markup('<span class="protocol-swatch" style="background-color:%s" aria-hidden="true"></span>%s')


def _protocols() -> wq.Choice:
    return ("protocol", "Protocol", "All protocols", [(p["protocol"], p["label"]) for p in list_protocols()])


#: `?table=` name -> title, the action of its rows
TABLES = {"in_progress": ("Being cleared", "Continue clearing"), "pending": ("Ready to clear", "Open"),
          "complete": ("Cleared", "View clearing log")}  # fmt: skip

QUEUE = wq.Queue(
    area="clearing",
    tables=TABLES,
    queries=queries,
    columns=(
        wq.Column(
            "Progress",
            "progress",
            "clearing_progress",
            "progress",
            "label",
            ("in_progress", "complete"),
            labels=CLEARING_PROGRESS_LABELS,
        ),
        wq.SUBMITTED,
        wq.Column("Expected hand-off", "handoff", "earliest_handoff", "expected_handoff", "date"),
        wq.Column("Protocol", "protocol", "protocol_label", "protocol", "own", render=_protocol),
        wq.Column("Primary antibody", "antibody1", "antibody1", "primary_antibody", "dash"),
        wq.Column("Secondary antibody", "antibody2", "antibody2", "secondary_antibody", "dash"),
        wq.REQUEST,
        wq.OWNER,
        wq.Column("", None, "clearing_batch_number", "clearing_batch"),
        wq.person("Clearer", "clearer"),
        wq.SPECIES,
        wq.Column("Samples", "samples", "number_in_batch", "samples"),
        wq.completed("complete"),
    ),  # fmt: skip
    own_note="You see the batches you clear yourself.",
    key=(("username", "username"), ("request_name", "request_name"), ("number", "clearing_batch_number")),
    links={"in_progress": "clearing.batch_form", "pending": "clearing.batch_form", "complete": "clearing.batch_log"},
    row_fields=("protocol",),
    new_tab=True,
    filter=queries.QueueFilter,
    choice=_protocols,
    page_context=lambda viewer, sees_all: {"protocols": list_protocols()},  # the legend of protocol colours
)
wq.add_queue_routes(bp, QUEUE, queue_route)
