"""lightserv: the light-sheet microscopy core facility portal."""

from __future__ import annotations

import warnings

from flask import Flask

from .common.threads import SerialFlask, read_body_first
from .settings import Settings, load_settings

# Known and accepted (docs/decisions.md): we configure DataJoint in code, not with datajoint.json, and
# MariaDB support in DataJoint 2 is best-effort; the pinned version plus our tests are the guarantee.
warnings.filterwarnings("ignore", message="No datajoint.json found")
warnings.filterwarnings("ignore", message="MariaDB is not officially supported by DataJoint")


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app. Nothing connects to a database or broker here."""
    settings = settings or load_settings()
    app = SerialFlask(__name__)  # one request at a time per process, threads wait on clients
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.sqlalchemy_url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "pool_recycle": 1800},
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.cookie_secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        WTF_CSRF_TIME_LIMIT=settings.wtf_csrf_time_limit,
        WTF_CSRF_SSL_STRICT=settings.cookie_secure,
        BOOTSTRAP_SERVE_LOCAL=True,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        TESTING=settings.lightserv_mode == "TEST",
        DEBUG=False,
    )
    app.wsgi_app = read_body_first(app.wsgi_app, app.config["MAX_CONTENT_LENGTH"])
    register_extensions(app)
    register_blueprints(app)
    register_run_hooks(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    from .auth.session import init_auth
    from .celery_app import celery_init_app
    from .common.headers import init_security_headers
    from .extensions import bootstrap, csrf, db

    db.init_app(app)
    app.before_request(_require_current_database)
    csrf.init_app(app)
    bootstrap.init_app(app)
    init_auth(app)
    celery_init_app(app)
    init_security_headers(app)


def _require_current_database():
    """Refuse service (503) while the database is behind the code; /healthz still answers."""
    from flask import render_template, request

    from .dbinit import check_database_current

    if request.endpoint in (None, "static", "bootstrap.static", "health.healthz"):
        return None
    message = check_database_current()
    if message:
        return render_template("errors/503.html", message=message), 503
    return None


def register_blueprints(app: Flask) -> None:
    from .admin.routes import bp as admin_bp
    from .api.routes import bp as api_bp
    from .auth.routes import bp as auth_bp
    from .clearing.routes import bp as clearing_bp
    from .health import bp as health_bp
    from .home.routes import bp as home_bp
    from .imaging.routes import bp as imaging_bp
    from .notifications.routes import bp as notifications_bp
    from .processing.routes import bp as processing_bp
    from .requests.routes import bp as requests_bp
    from .viewer.routes import bp as viewer_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(home_bp)  # / : the home page of each role
    app.register_blueprint(requests_bp)
    app.register_blueprint(clearing_bp, url_prefix="/clearing")
    app.register_blueprint(imaging_bp, url_prefix="/imaging")
    app.register_blueprint(processing_bp, url_prefix="/processing")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(viewer_bp, url_prefix="/viewer")
    app.register_blueprint(api_bp)  # /api/v1/ and the token page /profile/api-token
    app.register_blueprint(notifications_bp)  # /profile/notifications


def register_run_hooks(app: Flask) -> None:
    """What finished cluster runs trigger, added once per app (the web app and the Celery worker). A layer is
    marked ready or failed first, so the raw-layer emails and the processing state read its new status."""
    from .imaging import layer_emails
    from .layers import services as layers
    from .processing import triggers as processing
    from .runs.triggers import RunHooks

    hooks = RunHooks()
    layers.register_hooks(hooks)
    layer_emails.register_hooks(hooks)
    processing.register_hooks(hooks)
    app.extensions["run_hooks"] = hooks


def register_errorhandlers(app: Flask) -> None:
    from .common.errors import register_error_handlers

    register_error_handlers(app)


def register_template_helpers(app: Flask) -> None:
    from flask import g
    from flask_login import current_user

    from .common.forms import EXPIRED_MESSAGE
    from .common.navigation import navigation
    from .common.timefmt import format_date, format_datetime, format_datetime_zone
    from .layers.labels import layer_words

    tz = app.config["SETTINGS"].display_timezone
    app.jinja_env.filters["localtime"] = lambda v: format_datetime(v, tz)
    app.jinja_env.filters["localtime_zone"] = lambda v: format_datetime_zone(v, tz)
    app.jinja_env.filters["localdate"] = format_date
    app.jinja_env.globals["layer_words"] = layer_words  # a layer row in words, for every page that lists layers

    @app.context_processor
    def inject():
        settings = app.config["SETTINGS"]
        return {
            "nav_items": navigation(current_user),
            "facility_name": settings.facility_name,
            "facility_contact_email": settings.facility_contact_email,
            "lightserv_mode": settings.lightserv_mode,
            "form_expired": g.get("form_expired", False),
            "has_endpoint": lambda endpoint: endpoint in app.view_functions,
            "form_expired_message": EXPIRED_MESSAGE,
        }


def register_commands(app: Flask) -> None:
    from .cli import register

    register(app)
