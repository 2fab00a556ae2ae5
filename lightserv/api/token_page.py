"""The user's own API-token page: create (or replace) and revoke; a new token is shown exactly once."""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SubmitField

from lightserv.common.permissions import requires

from . import tokens
from .blueprint import bp


class TokenForm(FlaskForm):
    create = SubmitField("Create a token")
    revoke = SubmitField("Revoke the token")


def _render(form: TokenForm, new_token: str | None = None, status: int = 200):
    response = make_response(
        render_template("api/token.html", form=form, account=current_user, new_token=new_token), status
    )
    response.headers["Cache-Control"] = "no-store"  # the page may carry the new token
    return response


@bp.route("/profile/api-token")
@requires("profile")
def token_page():
    return _render(TokenForm())


@bp.route("/profile/api-token", methods=["POST"])
@requires("profile")
def token_action():
    form = TokenForm()
    if not form.validate_on_submit():
        abort(400, "The form could not be accepted.")
    username = current_user.get_id()
    if form.create.data and not form.revoke.data:
        token = tokens.create_token(username, actor=username)
        return _render(TokenForm(formdata=None), new_token=token)
    if form.revoke.data and not form.create.data:
        if tokens.revoke_token(username, actor=username):
            flash("Your API token was revoked; programs using it are refused from now on.", "success")
        else:
            flash("You had no API token.", "info")
        return redirect(url_for("api.token_page"))
    abort(400, "Unknown form action.")
