"""Event-log entries as plain sentences for the people a request belongs to (the activity list of the request
page, home pages): what happened, who did it, to which sample, never an action code like `layer.ready`.

`describe(event)` takes an `EventLog` row (or a mapping with the same fields). Every action the application
records has a sentence built from the event's key; an action without one falls back to its recorded summary,
or to a neutral sentence when that summary holds internal names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: what a data layer shows, in words (schemas.enums.LAYER_PRODUCT)
PRODUCT_WORDS = {
    "raw": "raw image",
    "stitched": "stitched image",
    "blended": "blended image",
    "downsized": "downsized image",
    "registered": "atlas-registered image",
    "corrected": "destriped image",
    "cells": "detected cells",
    "cells_registered": "detected cells in atlas space",
}
#: an entity type in words, for actions without a sentence of their own
ENTITY_WORDS = {
    "request": "the request",
    "clearing_batch": "a clearing batch",
    "imaging_batch": "an imaging batch",
    "imaging_request": "an imaging request",
    "processing_request": "a processing request",
    "layer": "a data layer",
    "viewer_link": "a saved view",
}
#: a summary with one of these is written for staff: dotted action codes, layer names like `blended_ch488`,
#: "sample(s)"
_INTERNAL = re.compile(r"\b[a-z]+\.[a-z_]+\b|\w_ch\d+\b|\(s\)")


@dataclass(frozen=True)
class Facts:
    """What a sentence may name, read from one event."""

    actor: str | None
    key: Mapping[str, Any]
    after: Mapping[str, Any]
    summary: str

    @property
    def who(self) -> str:
        return self.actor or "The facility"

    @property
    def sample(self) -> str:
        return _mention(self.key.get("sample_name"), " of sample {}")

    @property
    def batch(self) -> str:
        return _mention(self.key.get("clearing_batch_number"), " batch {}")

    @property
    def imaging(self) -> str:
        """Imaging requests after the first (the first came with the request)."""
        number = self.key.get("imaging_request_number")
        return _mention(number if number and number > 1 else None, " (imaging request {})")

    @property
    def processing(self) -> str:
        return _mention(self.key.get("processing_request_number"), " (processing request {})")

    @property
    def layer(self) -> str:
        """ "the atlas-registered image of 488 nm (sample s1, 1.3x)" """
        k = self.key
        where = [f"sample {k['sample_name']}"] if k.get("sample_name") else []
        where += [k["image_resolution"]] if k.get("image_resolution") else []
        where += [f"{k['lightsheet']} light sheet"] if k.get("lightsheet") in ("left", "right") else []
        what = f"the {PRODUCT_WORDS.get(k.get('product', ''), 'image')} of {k.get('channel_name', '?')} nm"
        return f"{what} ({', '.join(where)})" if where else what

    @property
    def detail(self) -> str:
        """The recorded summary in brackets, when it is written for people."""
        return f" ({self.summary.rstrip('.')})" if self.summary and not _INTERNAL.search(self.summary) else ""


def _mention(value: Any, text: str) -> str:
    """`text` with the value, or nothing when the event does not name it."""
    return text.format(value) if value else ""


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _rerun_from(facts: Facts) -> str:
    """ "the downsize step": the first stage of a re-run."""
    name = str(facts.after.get("start_stage") or "")
    return f"the {name.replace('_', ' ')} step" if name else "an earlier step"


_SENTENCES: dict[str, Callable[[Facts], str]] = {
    # requests
    "request.submitted": lambda f: f"{f.who} submitted the request.",
    "request.deleted": lambda f: f"{f.who} deleted the request.",
    "request.archival_imported": lambda f: "The request was entered from the facility's records.",
    "request.access_changed": lambda f: f"{f.who} changed the access of {f.key.get('grantee', 'a user')}.",
    "feedback.submitted": lambda f: f"{f.who} gave feedback on the request.",
    # clearing
    "clearing.claimed": lambda f: f"{f.who} took on clearing{f.batch}.",
    "clearing.assigned": lambda f: (
        f"{f.who} assigned clearing{f.batch} to {f.after['clearer']}."
        if (f.after or {}).get("clearer")
        else f"{f.who} handed clearing{f.batch} back to the clearing team."
    ),
    "clearing.started": lambda f: f"{f.who} started clearing{f.batch}.",
    "clearing.step_saved": lambda f: f"{f.who} recorded clearing progress{f.detail}.",
    "clearing.section_date_saved": lambda f: f"{f.who} recorded a clearing date{f.detail}.",
    "clearing.lot_saved": lambda f: f"{f.who} recorded an antibody lot{f.detail}.",
    "clearing.notes_saved": lambda f: f"{f.who} updated the clearing notes{f.batch and ' of' + f.batch}.",
    "clearing.completed": lambda f: f"{f.who} finished clearing{f.batch}.",
    "clearing.reopened": lambda f: (
        f"{f.who} reopened clearing{f.batch}" + (f": {f.after['reason']}." if (f.after or {}).get("reason") else ".")
    ),
    # imaging
    "imaging.requested": lambda f: f"{f.who} asked for more imaging{f.imaging}.",
    "imaging.claimed": lambda f: f"{f.who} took on the imaging{f.imaging}.",
    "imaging.assigned": lambda f: f"{f.who} assigned the imaging{f.imaging}.",
    "imaging.released": lambda f: f"{f.who} handed the imaging{f.imaging} back to the imaging team.",
    "imaging.started": lambda f: f"{f.who} started imaging{f.imaging}.",
    "imaging.params_applied": lambda f: f"{f.who} set the imaging parameters{f.imaging}.",
    "imaging.parameters_applied": lambda f: f"{f.who} set the imaging parameters{f.imaging}.",
    "imaging.channel_added": lambda f: f"{f.who} added a channel to the imaging{f.sample}.",
    "imaging.channel_deleted": lambda f: f"{f.who} removed a channel from the imaging{f.sample}.",
    "imaging.resolution_changed": lambda f: f"{f.who} changed the imaging resolution{f.sample}.",
    "imaging.ventral_up_added": lambda f: f"{f.who} added a ventral-side-up acquisition{f.sample}.",
    "imaging.sample_saved": lambda f: f"{f.who} saved the imaging details{f.sample}.",
    "imaging.sample_submitted": lambda f: f"{f.who} handed in the images{f.sample} for checking.",
    "imaging.validation_failed": lambda f: f"The check of the raw images{f.sample} found a problem.",
    "imaging.validation_lost": lambda f: f"The check of the raw images{f.sample} stopped and will be repeated.",
    "imaging.validation_requeued": lambda f: f"The check of the raw images{f.sample} was started again.",
    "imaging.sample_completed": lambda f: f"{f.who} finished imaging{f.sample}{f.imaging}.",
    "imaging.sample_skipped": lambda f: f"{f.who} skipped the imaging{f.sample}{f.imaging}.",
    "imaging.sample_reopened": lambda f: f"{f.who} reopened the imaging{f.sample}{f.imaging}.",
    "imaging.batch_completed": lambda f: f"{f.who} finished imaging the samples of clearing{f.batch}{f.imaging}.",
    # processing
    "processing.requested": lambda f: f"{f.who} asked for more processing{f.imaging}.",
    "processing.started": lambda f: f"{f.who} started processing{f.sample}{f.processing}.",
    "processing.autostitch": lambda f: f"Stitching{f.sample} started automatically.",
    "processing.flatfield_set": lambda f: f"{f.who} chose the flat-field images{f.sample}; destriping started.",
    "processing.completed": lambda f: f"Processing{f.sample}{f.processing} is complete.",
    "processing.failed": lambda f: (
        f"Processing{f.sample}{f.processing} did not finish; the facility is looking into it."
    ),
    "processing.cancelled": lambda f: f"{f.who} cancelled processing{f.sample}{f.processing}.",
    "processing.rerun": lambda f: f"{f.who} restarted processing from {_rerun_from(f)}.",
    "run.created": lambda f: "Work on the computing cluster was scheduled.",
    "run.stage_triggered": lambda f: "The next processing step started.",
    "run.finished": lambda f: "A piece of work on the computing cluster finished.",
    "job.submitted": lambda f: "A processing step was sent to the computing cluster.",
    "job.state_changed": lambda f: "A processing step moved on.",
    # data and views
    "layer.ready": lambda f: f"{_capital(f.layer)} is ready to view.",
    "layer.failed": lambda f: f"{_capital(f.layer)} could not be prepared for viewing.",
    "viewer.link_created": lambda f: f"{f.who} saved a view of the data.",
    "viewer.link_renamed": lambda f: f"{f.who} renamed a saved view.",
    "viewer.link_revoked": lambda f: f"{f.who} withdrew a saved view.",
    "viewer.session_started": lambda f: f"{f.who} opened the data in the viewer.",
    "viewer.session_stopped": lambda f: "A viewer window was closed.",
    "viewer.gallery_marked": lambda f: f"{f.who} added a view to the gallery.",
    "viewer.gallery_described": lambda f: f"{f.who} updated a gallery description.",
    "viewer.gallery_unmarked": lambda f: f"{f.who} took a view out of the gallery.",
    # facility
    "antibody.changed": lambda f: f"{f.who} updated the antibody records.",
    "email.failed": lambda f: "An email could not be delivered.",
    "background.not_queued": lambda f: "A background task could not be started.",
    "atlas.installed": lambda f: f"{f.who} installed an atlas.",
}


def _field(event: Any, name: str) -> Any:
    return event.get(name) if isinstance(event, Mapping) else getattr(event, name, None)


def describe(event: Any) -> str:
    """One sentence saying what the event records, in words a researcher reads."""
    facts = Facts(
        actor=_field(event, "actor"),
        key=_field(event, "entity_key") or {},
        after=_field(event, "after") or {},
        summary=(_field(event, "summary") or "").strip(),
    )
    sentence = _SENTENCES.get(_field(event, "action") or "")
    if sentence is not None:
        return sentence(facts)
    if facts.summary and not _INTERNAL.search(facts.summary):
        return facts.summary if facts.summary.endswith(".") else facts.summary + "."
    what = ENTITY_WORDS.get(_field(event, "entity_type") or "", "the request")
    return f"{facts.who} made a change to {what}."
