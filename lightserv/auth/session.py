"""Who is asking: flask-login session users (while their login session is live), the trusted SSO header,
refusal of inactive users, and the client address behind PROXY_FIX_HOPS trusted reverse proxies."""

from __future__ import annotations

import hmac
import ipaddress

from flask import Flask, abort, current_app, render_template, request
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from lightserv.extensions import login_manager

from . import login_sessions
from .throttle import init_throttle

PROXY_SECRET_HEADER = "X-Lightserv-Proxy-Secret"  # noqa: S105 - a header name, not a secret


def _peer_is_trusted(settings) -> bool:
    """The connection itself (not an X-Forwarded-For entry) comes from TRUSTED_PROXIES."""
    peer = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR", request.remote_addr)
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in net for net in settings.trusted_proxy_networks())


def _carries_proxy_secret(settings) -> bool:
    """Without SSO_SHARED_SECRET any trusted peer may vouch; with it, only one that sends the secret."""
    if not settings.sso_shared_secret:
        return True
    sent = request.headers.get(PROXY_SECRET_HEADER, "")
    return hmac.compare_digest(sent.encode(), settings.sso_shared_secret.encode())


def _apply_sso_header():
    """Honour the SSO username header only from a trusted proxy (with the shared secret when one is set);
    a forged header is refused (401)."""
    settings = current_app.config["SETTINGS"]
    header = settings.remote_user_header
    if not header:
        return None
    value = request.headers.get(header)
    if value is None:
        return None
    if not _peer_is_trusted(settings) or not _carries_proxy_secret(settings):
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
    services.log_in(account, "sso")
    return None


def _refuse_inactive():
    if current_user.is_authenticated and not current_user.is_active:
        login_sessions.end_current()
        return render_template("errors/inactive.html"), 403
    return None


def init_auth(app: Flask) -> None:
    hops = app.config["SETTINGS"].proxy_fix_hops
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)  # type: ignore[method-assign]
    init_throttle(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see this page."
    login_manager.login_message_category = "info"

    # inactive accounts are loaded so that the request is refused with 403, not redirected
    login_manager.user_loader(login_sessions.load_user)

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
