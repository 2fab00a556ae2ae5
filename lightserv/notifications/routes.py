"""`/profile/notifications`: each user chooses, per category, each email at once or a daily digest."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, SubmitField

from lightserv.common.forms import form_view
from lightserv.common.permissions import requires
from schemas.enums import NOTIFICATION_CATEGORY, NOTIFICATION_MODE

from . import preferences, services

bp = Blueprint("notifications", __name__)


class PreferencesForm(FlaskForm):
    save = SubmitField("Save")


for _category in NOTIFICATION_CATEGORY:
    setattr(
        PreferencesForm,
        _category,
        RadioField(
            preferences.CATEGORY_LABELS[_category],
            choices=[(m, preferences.MODE_LABELS[m]) for m in NOTIFICATION_MODE],
            default="immediate",
        ),
    )


@bp.route("/profile/notifications", methods=["GET", "POST"])
@requires("profile")
@form_view
def preferences_page():
    username = current_user.get_id()
    form = PreferencesForm()
    if form.validate_on_submit():
        modes = {c: getattr(form, c).data for c in NOTIFICATION_CATEGORY}
        changed = services.save_preferences(username, modes)
        flash("Your notification preferences were saved." if changed else "Nothing changed.", "success")
        return redirect(url_for("notifications.preferences_page"))
    status = 400 if form.is_submitted() else 200
    if not form.is_submitted():
        for category, mode in preferences.get_preferences(username).items():
            getattr(form, category).data = mode
    fields = [getattr(form, c) for c in NOTIFICATION_CATEGORY]
    return render_template("notifications/preferences.html", form=form, fields=fields), status
