"""Forms of the clearing pages. The entry form itself is generated from the catalogue (`entry.py`);
these are the fixed ones: assignment, reopening and the antibody pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _text(max_length: int, required: bool = False):
    checks = [DataRequired(message="This field is required.")] if required else [Optional()]
    return dict(validators=[*checks, Length(max=max_length)], filters=[_strip])


class AssignForm(FlaskForm):
    assignee = SelectField("Assign to", choices=[], validate_choice=False)


class ReopenForm(FlaskForm):
    reason = TextAreaField("Reason for reopening", **_text(500, required=True))


class AntibodyHistoryForm(FlaskForm):
    """Edit a history row; `restrict_to_owner_fields` removes what only clearing staff may change."""

    entry_date = DateField("Date", validators=[DataRequired(message="Enter a valid date.")])
    brief_descriptor = StringField("Brief description", **_text(128))
    animal_model = StringField("Animal model", **_text(128))
    primary_antibody = StringField("Primary antibody", **_text(128))
    primary_concentration = StringField("Primary concentration", **_text(128))
    secondary_antibody = StringField("Secondary antibody", **_text(128))
    secondary_concentration = StringField("Secondary concentration", **_text(128))
    primary_order_info = StringField("Primary order info", **_text(256))
    secondary_order_info = StringField("Secondary order info", **_text(256))
    primary_lot = StringField("Primary lot", **_text(64))
    secondary_lot = StringField("Secondary lot", **_text(64))
    notes = TextAreaField("Notes", **_text(512))

    STAFF_ONLY = ("primary_lot", "secondary_lot", "entry_date", "brief_descriptor", "animal_model")

    def restrict_to_owner_fields(self) -> None:
        for name in self.STAFF_ONLY:
            del self[name]


class NewAntibodyTrialForm(FlaskForm):
    entry_date = DateField("Date", validators=[DataRequired(message="Enter a valid date.")])
    brief_descriptor = StringField("Brief description", **_text(128, required=True))
    animal_model = StringField("Animal model", **_text(128, required=True))
    primary_antibody = StringField("Primary antibody", **_text(128, required=True))
    primary_concentration = StringField("Primary concentration", **_text(128, required=True))
    secondary_antibody = StringField("Secondary antibody", **_text(128, required=True))
    secondary_concentration = StringField("Secondary concentration", **_text(128, required=True))
    primary_order_info = StringField("Primary order info", **_text(256))
    secondary_order_info = StringField("Secondary order info", **_text(256))
    notes = TextAreaField("Notes", **_text(512))


class AntibodyOverviewForm(FlaskForm):
    brief_descriptor = StringField("Brief description", **_text(128, required=True))
    animal_model = StringField("Animal model", **_text(128, required=True))
    primary_antibody = StringField("Primary antibody", **_text(128, required=True))
    primary_concentration = StringField("Primary concentration", **_text(128, required=True))
    secondary_antibody = StringField("Secondary antibody", **_text(128, required=True))
    secondary_concentration = StringField("Secondary concentration", **_text(128, required=True))
    primary_order_info = StringField("Primary order info", **_text(256))
    secondary_order_info = StringField("Secondary order info", **_text(256))
    notes = TextAreaField("Notes", **_text(512))


#: columns each form writes
HISTORY_OWNER_FIELDS = (
    "primary_antibody",
    "primary_concentration",
    "secondary_antibody",
    "secondary_concentration",
    "primary_order_info",
    "secondary_order_info",
    "notes",
)
HISTORY_STAFF_FIELDS = HISTORY_OWNER_FIELDS + AntibodyHistoryForm.STAFF_ONLY
OVERVIEW_FIELDS = (
    "brief_descriptor",
    "animal_model",
    "primary_antibody",
    "primary_concentration",
    "secondary_antibody",
    "secondary_concentration",
    "primary_order_info",
    "secondary_order_info",
    "notes",
)
