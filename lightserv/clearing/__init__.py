"""Clearing: the queue, claiming and assignment, the entry form of every protocol (generated from the
step catalogue), completion, the clearing log and calendar export, and the antibody pages
(`clearing.md`)."""

from . import tasks  # noqa: F401  registers the Celery tasks wherever the blueprint is loaded
