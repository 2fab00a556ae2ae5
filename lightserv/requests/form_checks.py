"""The new-request form (also the additional imaging and processing forms): tampered structure is refused with
400, and validation errors are placed next to their fields, each naming its sample."""

from __future__ import annotations

import re
from collections import OrderedDict

from flask import abort

from schemas.enums import CHANNELS_OF_MICROSCOPE, IMAGE_RESOLUTION, MICROSCOPE_OF_RESOLUTION, SPECIES

from .forms import NewRequestForm
from .submission import Errors

SAMPLE_KEY = re.compile(r"^samples-(\d+)-(?:resolutions-(\d+)-)?")


def check_tables(sample_form) -> None:
    """Reject tampered resolution tables with 400: unknown or duplicate resolution, unknown channel."""
    seen = set()
    for res in sample_form.resolutions:
        resolution = res.form.image_resolution.data
        if resolution not in IMAGE_RESOLUTION or resolution in seen:
            abort(400, "A resolution table was tampered with (unknown or duplicate resolution).")
        seen.add(resolution)
        names = [c.form.channel_name.data for c in res.form.channels]
        if sorted(names) != sorted(CHANNELS_OF_MICROSCOPE[MICROSCOPE_OF_RESOLUTION[resolution]]):
            abort(400, "A resolution table was tampered with (unknown channel).")


def check_structure(form: NewRequestForm) -> None:
    """Reject tampered read-only parts with 400."""
    if form.species.data not in SPECIES:
        abort(400, "Unknown species.")
    if form.stage.data != "samples":
        return
    if (form.number_of_samples.data or 0) != len(form.samples.entries):
        abort(400, "The number of samples does not match the sample sections.")
    for sample in form.samples:
        check_tables(sample.form)


def _field(form, key: str):
    """The form field an error key such as `samples-0-resolutions-1-channels` belongs to."""
    parts = key.split("-")
    node = form
    i = 0
    while i < len(parts):
        name = parts[i]
        try:
            field = node[name]
        except KeyError:
            return None
        if i + 1 < len(parts) and parts[i + 1].isdigit():
            index = int(parts[i + 1])
            if index >= len(field.entries):
                return None
            node = field.entries[index].form
            i += 2
            continue
        return field if i == len(parts) - 1 else None
    return None


def attach_errors(form, errors) -> list[tuple[str, str]]:
    """Put each message next to its field; return (label, message) pairs for the summary."""
    summary = []
    for key, messages in errors.items():
        field = _field(form, key)
        if field is not None:
            field.errors = list(field.errors or []) + list(messages)
        label = field.label.text if field is not None and hasattr(field, "label") and field.label else ""
        summary.extend((label, m) for m in messages)
    return summary


def sample_words(form: NewRequestForm, index: int) -> str:
    name = form.samples.entries[index].form.sample_name.data if index < len(form.samples.entries) else ""
    return f"Sample {index + 1} ({name})" if name else f"Sample {index + 1}"


def _about(form: NewRequestForm, key: str) -> tuple[str, str, str]:
    """(section id, section name, message prefix) of an error key: a sample's messages start with the sample
    and, in a resolution table, the resolution ("Sample 2 (mouse_02), resolution 1.3x: ")."""
    match = SAMPLE_KEY.match(key)
    if match is None:
        return "details", "Request details", ""
    si = int(match.group(1))
    words = sample_words(form, si)
    prefix = words
    if match.group(2) is not None and si < len(form.samples.entries):
        tables = form.samples.entries[si].form.resolutions.entries
        ri = int(match.group(2))
        if ri < len(tables):
            prefix += f", resolution {tables[ri].form.image_resolution.data}"
    return f"sample-{si + 1}", words, prefix + ": "


def _lower_first(message: str) -> str:
    return message if message[1:2].isupper() else message[:1].lower() + message[1:]


def place_errors(form: NewRequestForm, errors: Errors) -> dict:
    """Each message once, next to its field, naming its sample; the summary only counts them per section and
    lists the messages that belong to no field."""
    sections: OrderedDict[str, dict] = OrderedDict()
    loose: list[str] = []
    for key, messages in errors.items():
        anchor, name, prefix = _about(form, key)
        texts = [prefix + _lower_first(m) if prefix else m for m in messages]
        field = _field(form, key)
        if field is None:
            loose.extend(texts)
            continue
        field.errors = list(field.errors or []) + texts
        section = sections.setdefault(anchor, {"anchor": anchor, "name": name, "count": 0})
        section["count"] += len(texts)
    total = sum(s["count"] for s in sections.values()) + len(loose)
    return {"sections": list(sections.values()), "loose": loose, "total": total}
