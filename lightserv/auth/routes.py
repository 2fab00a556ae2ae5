"""Login, logout and profile. The SSO header is handled in `sso.py` before every request."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.security import check_password_hash

from lightserv.common.forms import form_view
from lightserv.common.permissions import login_required, public, requires
from lightserv.common.urls import is_safe_next
from lightserv.db import get_schemas

from . import services
from .forms import LoginForm, LogoutForm, PasswordForm, ProfileForm

bp = Blueprint("auth", __name__, template_folder="templates")


def _after_login_target(next_value: str | None) -> str:
    return next_value if is_safe_next(next_value) else url_for("requests.request_list")


@bp.route("/login", methods=["GET", "POST"])
@public
@form_view
def login():
    settings = current_app.config["SETTINGS"]
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        if current_user.is_authenticated:
            return redirect(_after_login_target(form.next.data))
    if not settings.auth_local:
        return render_template("auth/login.html", form=None, sso_only=True), 401
    status = 200
    if form.validate_on_submit():
        try:
            account = services.authenticate(form.username.data, form.password.data, request.remote_addr)
        except services.LoginThrottled as exc:
            form.password.errors = [str(exc)]
            status = 429
        except services.AuthError as exc:
            form.password.errors = [str(exc)]
            status = 401
        else:
            if not account.is_active:
                return render_template("errors/inactive.html"), 403
            login_user(account)
            services.note_login(account, "password")
            return redirect(_after_login_target(form.next.data))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form, sso_only=False), status


@bp.route("/logout", methods=["GET", "POST"])
@public
def logout():
    """GET shows a button (a GET never changes state); POST logs out."""
    form = LogoutForm()
    if request.method == "POST":
        if form.validate_on_submit():
            logout_user()
            sso_logout = current_app.config["SETTINGS"].sso_logout_url
            if sso_logout:
                return redirect(sso_logout)
            flash("You are logged out.", "info")
            return redirect(url_for("auth.login"))
        return render_template("auth/logout.html", form=form), 400
    return render_template("auth/logout.html", form=form)


@bp.route("/profile", methods=["GET", "POST"])
@requires("profile")
@form_view
def profile():
    username = current_user.get_id()
    user_row = (get_schemas().lightsheet.User & {"username": username}).to_dicts()[0]
    profile_form = ProfileForm(prefix="profile")
    password_form = PasswordForm(prefix="password")
    status = 200
    if request.method == "GET":
        profile_form.email.data = user_row["email"]
    elif profile_form.submit_profile.data:
        if profile_form.validate_on_submit():
            services.set_email(username, profile_form.email.data, actor=username)
            flash("Your email address was saved.", "success")
            return redirect(url_for("auth.profile"))
        status = 400
    elif password_form.submit_password.data:
        if password_form.validate_on_submit():
            if not current_user.password_hash or not check_password_hash(
                current_user.password_hash, password_form.current_password.data
            ):
                password_form.current_password.errors = ["The current password is wrong."]
                status = 400
            else:
                services.set_password(username, password_form.new_password.data, actor=username)
                flash("Your password was changed.", "success")
                return redirect(url_for("auth.profile"))
        else:
            status = 400
    else:
        return render_template("errors/400.html", message="Unknown form action."), 400
    return (
        render_template("auth/profile.html", profile_form=profile_form, password_form=password_form, user_row=user_row),
        status,
    )


__all__ = ["bp", "login_required"]
