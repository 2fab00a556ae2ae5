"""The API blueprint object, shared by the JSON routes and the personal token page."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__)
