"""The additional-processing form: per sample "Process again", per imaged processable
resolution "Include", atlas, output orientation and notes for the processor."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, Form, FormField, HiddenField, SelectField, TextAreaField

from lightserv.requests.additional_processing import ResolutionChoice, SampleChoice, SampleState
from schemas.enums import ORIENTATION


class ProcessResolutionForm(Form):
    image_resolution = HiddenField()
    include = BooleanField("Include")
    atlas_name = SelectField("Atlas for registration", choices=[], validate_choice=False)
    final_orientation = SelectField(
        "Output orientation", choices=[(o, o.capitalize()) for o in ORIENTATION], validate_choice=False
    )
    notes_for_processor = TextAreaField("Notes for the processor (optional)", render_kw={"maxlength": 1024, "rows": 2})


class ProcessSampleForm(Form):
    sample_name = HiddenField()
    reprocess = BooleanField("Process again")  # not "process": that name is a WTForms method
    resolutions = FieldList(FormField(ProcessResolutionForm))


class AdditionalProcessingForm(FlaskForm):
    samples = FieldList(FormField(ProcessSampleForm))


def initial_data(listed: list[SampleState]) -> dict:
    """Nothing ticked; every resolution included, with the atlas and orientation used last time."""
    return {
        "samples": [
            {
                "sample_name": s.sample_name,
                "reprocess": False,
                "resolutions": [
                    {
                        "image_resolution": r.image_resolution,
                        "include": True,
                        "atlas_name": r.atlas_default,
                        "final_orientation": r.orientation_default,
                        "notes_for_processor": "",
                    }
                    for r in s.resolutions
                ],
            }
            for s in listed
        ]
    }


def copy_first_sample(data: dict) -> dict:
    """ "Copy sample 1 to all samples": its per-resolution values go to every other listed sample that has
    the same resolution, and those samples are ticked like sample 1."""
    first = data["samples"][0]
    by_resolution = {r["image_resolution"]: r for r in first["resolutions"]}
    for other in data["samples"][1:]:
        matched = False
        for r in other["resolutions"]:
            source = by_resolution.get(r["image_resolution"])
            if source is None:
                continue
            matched = True
            for name in ("include", "atlas_name", "final_orientation", "notes_for_processor"):
                r[name] = source[name]
        if matched:
            other["reprocess"] = first["reprocess"]
    return data


def to_choices(form: AdditionalProcessingForm) -> list[SampleChoice]:
    return [
        SampleChoice(
            sample_name=s.form.sample_name.data or "",
            process=bool(s.form.reprocess.data),
            resolutions=[
                ResolutionChoice(
                    image_resolution=r.form.image_resolution.data or "",
                    include=bool(r.form.include.data),
                    atlas_name=r.form.atlas_name.data or "",
                    final_orientation=r.form.final_orientation.data or "",
                    notes_for_processor=r.form.notes_for_processor.data or "",
                )
                for r in s.form.resolutions
            ],
        )
        for s in form.samples
    ]
