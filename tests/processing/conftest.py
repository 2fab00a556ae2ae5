"""Fixtures of the processing tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def running_worker(app):
    """A real Celery worker consuming the test broker for the duration of the test."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(app.extensions["celery"], pool="solo", perform_ping_check=False):
        yield
