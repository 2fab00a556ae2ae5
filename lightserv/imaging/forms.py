"""Forms of the imaging blueprint."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, Form, FormField, HiddenField, SelectField

from lightserv.requests.forms import ResolutionForm


class ReimageSampleForm(Form):
    sample_name = HiddenField()
    reimage = BooleanField("Re-image this sample")
    new_resolution = SelectField("Add a resolution", choices=[], validate_choice=False)
    resolutions = FieldList(FormField(ResolutionForm))


class AdditionalImagingForm(FlaskForm):
    samples = FieldList(FormField(ReimageSampleForm))
    self_imaging = BooleanField("I will image the samples myself")
