"""Fixtures of the viewer launcher's own tests: its Flask app in this process with the real `process` back end.
The layers it serves, its token and the proxy come from tests/support/launcher.py."""

from __future__ import annotations

import pytest

from tests.support.launcher import PUBLIC_BASE_URL, TOKEN


@pytest.fixture
def launcher_config(tmp_path, layer_dir):
    from viewer_launcher import LauncherConfig

    return LauncherConfig(
        token=TOKEN, allowed_roots=(layer_dir,), public_base_url=PUBLIC_BASE_URL, mode="TEST",
        state_dir=tmp_path / "launcher-state", ready_timeout=30.0, sweep_min_age=600.0,
    )  # fmt: skip


@pytest.fixture
def launcher(launcher_config):
    """The launcher's Flask app with the real process back end; every session it started is removed after."""
    from viewer_launcher import create_app

    app = create_app(launcher_config)
    yield app
    manager = app.extensions["viewer_launcher"]
    for session in manager.sessions():
        manager.delete(session["session_id"])
