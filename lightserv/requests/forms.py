"""Forms of the request pages: the new-request form with its conversion to a `NewRequest`, sharing and
feedback.

The new-request page is one form whose parts grow as buttons are pressed; every button posts the whole form
with `action=<name>`. Only the submit action runs full validation (`submission.validate_new_request`).
Length limits of the sharing and feedback forms equal the column lengths; the services check them again.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, Optional

from schemas.enums import (
    ATLAS_LABELS,
    CHANNELS_OF_MICROSCOPE,
    IMAGE_RESOLUTION,
    MICROSCOPE_OF_RESOLUTION,
    ORIENTATION,
    RETENTION_PREFERENCE,
    RETENTION_PREFERENCE_LABELS,
    SPECIES,
)

from .submission import ATLAS_RESOLUTIONS, ChannelWish, NewRequest, ResolutionWish, SampleWish

RESOLUTION_LABELS = {
    "1.1x": "1.1x (LaVision)",
    "1.3x": "1.3x (LaVision, for continuity with older experiments)",
    "2x": "2x (LaVision)",
    "4x": "4x (LaVision, for continuity with older experiments)",
    "3.6x": "3.6x (SmartSPIM)",
    "15x": "15x (SmartSPIM)",
}
PURPOSE_LABELS = {
    "registration": "Registration",
    "injection_detection": "Injection detection",
    "probe_detection": "Probe detection",
    "cell_detection": "Cell detection",
    "generic_imaging": "Generic imaging",
}
SPECIES_LABELS = {s: s.capitalize() for s in SPECIES}


class ChannelForm(Form):
    channel_name = HiddenField()
    registration = BooleanField("Registration")
    injection_detection = BooleanField("Injection detection")
    probe_detection = BooleanField("Probe detection")
    cell_detection = BooleanField("Cell detection")
    generic_imaging = BooleanField("Generic imaging")


class ResolutionForm(Form):
    image_resolution = HiddenField()
    channels = FieldList(FormField(ChannelForm))
    notes_for_imager = TextAreaField(
        "Notes for the imager (optional)",
        description="Optional: brain region of interest, z step, ventral-up wish, numerical aperture, exposure, "
        "tiling (columns x rows).",
        render_kw={"maxlength": 1024},
    )
    notes_for_processor = TextAreaField("Notes for the processor (optional)", render_kw={"maxlength": 1024})
    atlas_name = SelectField("Atlas for registration", choices=[], validate_choice=False)
    final_orientation = SelectField(
        "Output orientation", choices=[(o, o.capitalize()) for o in ORIENTATION], validate_choice=False
    )


class SampleForm(Form):
    sample_name = StringField("Sample name", render_kw={"maxlength": 64})
    subject_fullname = StringField("Subject (leave blank if not listed or unknown)", render_kw={"maxlength": 64})
    clearing_protocol = SelectField("Clearing protocol", choices=[], validate_choice=False)
    antibody1 = TextAreaField("Primary antibody and concentration (if immunostaining)", render_kw={"maxlength": 100})
    antibody2 = TextAreaField("Secondary antibody and concentration", render_kw={"maxlength": 100})
    perfusion_date = DateField("Perfusion date", validators=[Optional()])
    expected_handoff_date = DateField("Expected hand-off date", validators=[Optional()])
    notes_for_clearer = TextAreaField("Notes for the clearing staff", render_kw={"maxlength": 400})
    new_resolution = SelectField("Add a resolution", choices=[], validate_choice=False)
    resolutions = FieldList(FormField(ResolutionForm))


class NewRequestForm(FlaskForm):
    stage = HiddenField(default="details")
    enter_for_other = BooleanField("I am filling out this form for someone else")
    other_username = StringField("Username of that person", render_kw={"maxlength": 32, "list": "user-suggestions"})
    auditors = StringField(
        "Give read-only access to (usernames, comma-separated)",
        render_kw={"list": "user-suggestions", "data-several-names": "", "autocomplete": "off"},
    )
    request_name = StringField("Request name", render_kw={"maxlength": 64})
    description = TextAreaField("What is the goal of this request?", render_kw={"maxlength": 250})
    labname = StringField("Lab name(s), e.g. Smith/Jones", render_kw={"maxlength": 100})
    correspondence_email = StringField(
        "Email for all updates about this request", render_kw={"maxlength": 100, "type": "email"}
    )
    species = SelectField(
        "Species", choices=[(s, SPECIES_LABELS[s]) for s in SPECIES], default="mouse", validate_choice=False
    )
    number_of_samples = IntegerField("Number of samples (tubes)", default=1, validators=[Optional()])
    raw_data_retention_preference = SelectField(
        "How important is it that raw data is kept after processing? (Processed data is always kept.)",
        choices=[("", "Choose…")] + [(v, RETENTION_PREFERENCE_LABELS[v]) for v in RETENTION_PREFERENCE],
        validate_choice=False,
    )
    testing = BooleanField("This request is for testing (new protocol, new processing technique)")
    samples = FieldList(FormField(SampleForm))
    self_clearing = BooleanField("I will clear the samples myself")
    self_imaging = BooleanField("I will image the samples myself")


# ------------------------------------------------------------------------------------------------
# Building blocks used by the route
# ------------------------------------------------------------------------------------------------


def default_resolution(resolution: str, species: str, atlas_default: str = "allen_2017") -> dict:
    """Data of a freshly added table: one row per wavelength; mouse 1.1x/1.3x start with 488 registration."""
    channels = []
    for wavelength in CHANNELS_OF_MICROSCOPE[MICROSCOPE_OF_RESOLUTION[resolution]]:
        row = {"channel_name": wavelength, **{p: False for p in PURPOSE_LABELS}}
        if species == "mouse" and resolution in ("1.1x", "1.3x") and wavelength == "488":
            row["registration"] = True
        channels.append(row)
    return {
        "image_resolution": resolution,
        "channels": channels,
        "notes_for_imager": "",
        "notes_for_processor": "",
        "atlas_name": atlas_default,
        "final_orientation": "sagittal",
    }


def default_sample(request_name: str, index: int, protocol: str) -> dict:
    return {
        "sample_name": f"{request_name}-{index + 1:03d}",
        "subject_fullname": "",
        "clearing_protocol": protocol,
        "antibody1": "",
        "antibody2": "",
        "perfusion_date": None,
        "expected_handoff_date": None,
        "notes_for_clearer": "",
        "new_resolution": "",
        "resolutions": [],
    }


def prepare_choices(form: NewRequestForm, protocol_choices: list[tuple[str, str]], atlas_choices: list[str]) -> None:
    """Fill the per-page select options (protocols by species, unused resolutions, active atlases)."""
    for sample in form.samples:
        sample.form.clearing_protocol.choices = protocol_choices
        used = {r.form.image_resolution.data for r in sample.form.resolutions}
        sample.form.new_resolution.choices = [(r, RESOLUTION_LABELS[r]) for r in IMAGE_RESOLUTION if r not in used]
        for res in sample.form.resolutions:
            res.form.atlas_name.choices = [(a, ATLAS_LABELS[a]) for a in atlas_choices]


def parse_auditors(raw: str) -> list[str]:
    names = [n.strip().lower() for n in (raw or "").replace(";", ",").split(",")]
    return list(dict.fromkeys(n for n in names if n))


def _clean(value: str | None) -> str:
    return (value or "").strip()


def to_resolution_wishes(sample_form) -> list[ResolutionWish]:
    """The resolution tables of one sample section."""
    resolutions = []
    for r in sample_form.resolutions:
        rf = r.form
        resolution = rf.image_resolution.data
        resolutions.append(
            ResolutionWish(
                image_resolution=resolution,
                channels=[
                    ChannelWish(c.form.channel_name.data, **{p: bool(getattr(c.form, p).data) for p in PURPOSE_LABELS})
                    for c in rf.channels
                ],
                notes_for_imager=rf.notes_for_imager.data or "",
                notes_for_processor=(rf.notes_for_processor.data or "") if resolution != "2x" else "",
                atlas_name=rf.atlas_name.data if resolution in ATLAS_RESOLUTIONS else "allen_2017",
                final_orientation=rf.final_orientation.data if resolution in ATLAS_RESOLUTIONS else "sagittal",
            )
        )
    return resolutions


def to_new_request(form: NewRequestForm, owner: str) -> NewRequest:
    """The typed request this form describes (no validation here)."""
    samples = []
    for s in form.samples:
        sf = s.form
        resolutions = to_resolution_wishes(sf)
        samples.append(
            SampleWish(
                sample_name=_clean(sf.sample_name.data),
                clearing_protocol=sf.clearing_protocol.data or "",
                subject_fullname=_clean(sf.subject_fullname.data),
                antibody1=_clean(sf.antibody1.data),
                antibody2=_clean(sf.antibody2.data),
                perfusion_date=sf.perfusion_date.data,
                expected_handoff_date=sf.expected_handoff_date.data,
                notes_for_clearer=sf.notes_for_clearer.data or "",
                resolutions=resolutions,
            )
        )
    return NewRequest(
        owner=owner,
        request_name=_clean(form.request_name.data),
        description=form.description.data or "",
        labname=_clean(form.labname.data),
        correspondence_email=_clean(form.correspondence_email.data).lower(),
        species=form.species.data or "",
        number_of_samples=form.number_of_samples.data or 0,
        raw_data_retention_preference=form.raw_data_retention_preference.data or "",
        testing=bool(form.testing.data),
        self_clearing=bool(form.self_clearing.data),
        self_imaging=bool(form.self_imaging.data),
        auditors=parse_auditors(form.auditors.data),
        samples=samples,
    )


def hidden_pairs(form) -> list[tuple[str, str]]:
    """Every value of the form as (name, value) for hidden inputs (the review page posts it all back)."""
    pairs = []
    for f in form:
        if f.type == "FieldList":
            for entry in f.entries:
                pairs.extend(hidden_pairs(entry.form))
        elif f.type == "FormField":
            pairs.extend(hidden_pairs(f.form))
        elif f.type == "BooleanField":
            if f.data:
                pairs.append((f.name, "y"))
        elif f.type != "CSRFTokenField":
            value = f.data.isoformat() if f.type == "DateField" and f.data else f.data
            pairs.append((f.name, "" if value is None else str(value)))
    return pairs


def channel_lines(res: ResolutionWish) -> list[str]:
    """What each requested channel is for, in words: "488 nm: registration, cell detection"."""
    return [
        f"{c.channel_name} nm: " + ", ".join(PURPOSE_LABELS[p].lower() for p in PURPOSE_LABELS if getattr(c, p))
        for c in res.requested_channels()
    ]


RATING_CHOICES = [(i, str(i)) for i in range(1, 6)]
RATING_MESSAGE = "Please choose a rating from 1 to 5."


def _rating(label: str) -> RadioField:
    return RadioField(label, choices=RATING_CHOICES, coerce=int, validators=[Optional()], validate_choice=False)


def _notes(label: str, prompt: str, limit: int) -> TextAreaField:
    return TextAreaField(
        label,
        description=prompt,
        validators=[Length(max=limit, message=f"At most {limit} characters.")],
        render_kw={"maxlength": limit, "rows": 3},
    )


class FeedbackForm(FlaskForm):
    clearing_rating = _rating("Clearing")
    imaging_rating = _rating("Imaging")
    processing_rating = _rating("Processing")
    clearing_notes = _notes("Notes on clearing", "Clarity of the samples; expected versus actual time.", 500)
    imaging_notes = _notes("Notes on imaging", "Image quality, signal-to-noise.", 500)
    processing_notes = _notes("Notes on processing", "Registration quality, detection results.", 500)
    other_notes = _notes("Other notes", "Anything else you would like the facility to know.", 1000)

    def check_ratings(self, with_processing: bool) -> bool:
        """Ratings are required (processing only when the request has a processing request)."""
        ok = True
        names = ["clearing_rating", "imaging_rating"] + (["processing_rating"] if with_processing else [])
        for name in names:
            field = self[name]
            if field.data not in (1, 2, 3, 4, 5):
                field.errors = [*field.errors, RATING_MESSAGE]
                ok = False
        return ok


class AccessForm(FlaskForm):
    """One sharing change; the submit button's `action` names it (add, change_level, toggle_cc, remove)."""

    grantee = StringField("Username", render_kw={"maxlength": 32, "autocomplete": "off"})
    access_level = SelectField(
        "Access level",
        choices=[
            ("auditor", "Auditor (read-only)"),
            ("collaborator", "Collaborator (read-only, plus additional imaging/processing and feedback)"),
        ],
        default="auditor",
        validate_choice=False,
    )
