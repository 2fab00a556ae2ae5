"""Fixtures for the synthetic-data tests: small brains, written in seconds; no database, no app."""

from __future__ import annotations

import pytest

from lib.synth import Brain, make_brain


@pytest.fixture(scope="session")
def brain() -> Brain:
    """10 planes of 48 x 64 pixels, a dozen cells."""
    return make_brain((10, 48, 64), seed=7, n_cells=12)


@pytest.fixture(scope="session")
def cell_brain() -> Brain:
    """16 planes of 64 x 80 pixels, 25 cells."""
    return make_brain((16, 64, 80), seed=11, n_cells=25)
