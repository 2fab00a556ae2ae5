"""Who is asking: flask-login session users, the trusted SSO header, and refusal of inactive users."""

from __future__ import annotations

import ipaddress

from flask import Flask, abort, current_app, render_template, request
from flask_login import current_user, login_user, logout_user

from lightserv.extensions import db, login_manager
from lightserv.models import Account


def _peer_is_trusted(settings) -> bool:
    peer = request.remote_addr
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in net for net in settings.trusted_proxy_networks())


def _apply_sso_header():
    """Honour the SSO username header only from a trusted proxy; a forged header is refused (401)."""
    settings = current_app.config["SETTINGS"]
    header = settings.remote_user_header
    if not header:
        return None
    value = request.headers.get(header)
    if value is None:
        return None
    if not _peer_is_trusted(settings):
        current_app.logger.warning("identity header from untrusted peer %s refused", request.remote_addr)
        return render_template("errors/401.html", message="Untrusted identity header."), 401
    from . import services

    try:
        account = services.sso_login(value)
    except services.AuthError:
        return render_template("errors/401.html", message="The identity header names no valid user."), 401
    if current_user.is_authenticated and current_user.get_id() == account.username:
        return None
    if not account.is_active:
        return render_template("errors/inactive.html"), 403
    login_user(account)
    services.note_login(account, "sso")
    return None


def _refuse_inactive():
    if current_user.is_authenticated and not current_user.is_active:
        logout_user()
        return render_template("errors/inactive.html"), 403
    return None


def init_auth(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see this page."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(username: str):
        account = db.session.get(Account, username)
        # inactive accounts are loaded so that the request is refused with 403, not redirected
        return account

    @login_manager.unauthorized_handler
    def unauthorized():
        settings = current_app.config["SETTINGS"]
        wants_json = request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/")
        if not settings.auth_local or wants_json:
            abort(401)
        from flask import redirect, url_for

        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    app.before_request(_apply_sso_header)
    app.before_request(_refuse_inactive)
