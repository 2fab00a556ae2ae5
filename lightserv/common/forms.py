"""Form helpers shared by every blueprint.

`form_view` marks a view that validates a FlaskForm on POST. When such a POST fails CSRF only because
the token expired, the error handler calls the view again: the form fails validation (its token is
stale), so nothing is written, and the page comes back with the user's input and a fresh token, with
status 400 and "This form expired. Please submit it again.". A `form_view` that
does not validate a FlaskForm itself must return early when `form_expired()` is true. Views that act
without a form are never re-run.
"""

from __future__ import annotations

from collections.abc import Callable

EXPIRED_MESSAGE = "This form expired. Please submit it again."


def form_view(view: Callable) -> Callable:
    view.__lightserv_form_view__ = True  # type: ignore[attr-defined]
    return view


def is_form_view(view: Callable) -> bool:
    while view is not None:
        if getattr(view, "__lightserv_form_view__", False):
            return True
        view = getattr(view, "__wrapped__", None)
    return False


def form_expired() -> bool:
    """True while the error handler re-renders a view for an expired CSRF token: the view must show the
    posted values again and write nothing."""
    from flask import g

    return bool(g.get("form_expired"))
