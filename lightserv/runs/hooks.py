"""The one place that says what finished runs trigger: each feature package adds its hooks, in this order,
to the app's `RunHooks` when `create_app` builds the app (the web app and the Celery worker alike)."""

from __future__ import annotations

from flask import Flask

from lightserv.imaging import layer_emails
from lightserv.layers import services as layers
from lightserv.processing import triggers as processing

from .triggers import RunHooks


def register_all(hooks: RunHooks) -> RunHooks:
    """A layer is marked ready or failed first, so the raw-layer emails and the processing state read its
    new status."""
    layers.register_hooks(hooks)
    layer_emails.register_hooks(hooks)
    processing.register_hooks(hooks)
    return hooks


def init_run_hooks(app: Flask) -> None:
    app.extensions["run_hooks"] = register_all(RunHooks())
