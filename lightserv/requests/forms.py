"""Forms of the request management pages: sharing (requests.md §8) and feedback (§11).

Length limits equal the column lengths (pitfall 32); the services check them again.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

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
