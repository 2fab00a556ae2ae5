"""Login, logout, profile and the user's own login sessions. The SSO header is handled in `session.py`
before every request."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lightserv.common.forms import form_view
from lightserv.common.permissions import login_required, public, requires
from lightserv.common.urls import is_safe_next

from . import login_sessions, queries, services
from .forms import EndSessionsForm, LoginForm, LogoutForm, PasswordForm, ProfileForm
from .throttle import LoginThrottled

bp = Blueprint("auth", __name__, template_folder="templates")


def _after_login_target(next_value: str | None) -> str:
    return next_value if is_safe_next(next_value) else url_for("home.index")


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
    status, headers = 200, {}
    if form.validate_on_submit():
        try:
            account = services.authenticate(form.username.data, form.password.data, request.remote_addr)
        except LoginThrottled as exc:
            form.password.errors = [str(exc)]
            status, headers = 429, {"Retry-After": str(exc.retry_after)}
        except services.AuthError as exc:
            form.password.errors = [str(exc)]
            status = 401
        else:
            if not account.is_active:
                return render_template("errors/inactive.html"), 403
            services.log_in(account, "password")
            return redirect(_after_login_target(form.next.data))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form, sso_only=False), status, headers


@bp.route("/logout", methods=["GET", "POST"])
@public
def logout():
    """GET shows a button (a GET never changes state); POST logs out."""
    form = LogoutForm()
    if request.method == "POST":
        if form.validate_on_submit():
            login_sessions.end_current()
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
    user_row = queries.get_user(username) or {"email": ""}
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
            if not services.check_own_password(current_user, password_form.current_password.data):
                password_form.current_password.errors = ["The current password is wrong."]
                status = 400
            else:
                services.set_password(
                    username,
                    password_form.new_password.data,
                    actor=username,
                    keep_session=login_sessions.current_session_id(),
                )
                flash("Your password was changed. Your other sessions were ended.", "success")
                return redirect(url_for("auth.profile"))
        else:
            status = 400
    else:
        return render_template("errors/400.html", message="Unknown form action."), 400
    return (
        render_template(
            "auth/profile.html",
            profile_form=profile_form,
            password_form=password_form,
            user_row=user_row,
            login_sessions=login_sessions.list_live(username),
            current_session_id=login_sessions.current_session_id(),
            end_form=EndSessionsForm(),
        ),
        status,
    )


def _end_sessions(session_id: str | None):
    if not EndSessionsForm().validate_on_submit():
        abort(400, "The form expired. Please try again.")
    ended = login_sessions.end_own(current_user.get_id(), session_id)
    if session_id is not None and not ended:
        abort(404)
    flash(f"{ended} other session{'' if ended == 1 else 's'} ended.", "success")
    return redirect(url_for("auth.profile"))


@bp.route("/profile/sessions/<session_id>/end", methods=["POST"])
@requires("profile")
def end_session(session_id: str):
    """End one of the user's other live sessions (another user's or an unknown id: 404)."""
    return _end_sessions(session_id)


@bp.route("/profile/sessions/end-others", methods=["POST"])
@requires("profile")
def end_other_sessions():
    """End every live session of the user except this one."""
    return _end_sessions(None)


__all__ = ["bp", "login_required"]
