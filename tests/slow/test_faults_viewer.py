"""Faults of the viewer (issue 11): a layer server that never becomes ready, and configurable-http-proxy
missing or down, with the real launcher under gunicorn (process back end) and the real proxy.

The server that never becomes ready is the real cloudvolume server on a layer whose `provenance` file is a
FIFO nobody writes (as a hung network file system): cloud-volume blocks opening it, so the server never
listens. The launch must fail with a message after the readiness timeout, remove every server of the session
(the hung one and its ready sibling) and register no route; once the file is readable the link opens.
"""

from __future__ import annotations

import os

from tests.support.launcher import server_processes
from tests.viewer import conftest as viewer_fixtures
from tests.viewer.test_sessions import launcher_sessions, open_link, routes_of, run, session_row, start_view

# the app's viewer fixtures, shared with this module: the app pointed at the real launcher and proxy (those two
# come from tests/support/launcher.py), a request whose layers are on disk
atlas_installed = viewer_fixtures.atlas_installed
viewer_settings = viewer_fixtures.viewer_settings
world = viewer_fixtures.world


def test_a_layer_server_that_never_becomes_ready_fails_the_view_cleanly_and_leaves_nothing(
    app, client, world, viewer_settings, chp, launcher_service
):
    from lightserv.models import ViewerLink
    from lightserv.viewer.launch import launch, stop
    from tests.viewer.test_setup_pages import rows

    left = world.layer("raw", "488", "left")
    right = world.layer("raw", "488", "right")
    hung = viewer_settings.data_root / left["layer_path"] / "provenance"
    os.mkfifo(hung)
    try:
        session_id = start_view(app, client, world, left, right)
        assert run(app, launch, session_id) == "failed"
        s = session_row(app, session_id)
        assert s.end_reason == "launch_failed" and s.ended_at is not None
        assert s.error_message.startswith("the server of layer raw_ch488_left did not answer within 30 s")
        status = client.get(f"/viewer/session/{session_id}/status").get_json()
        assert status == {"status": "failed", "url": "", "message": s.error_message}
        page = client.get(f"/viewer/session/{session_id}").get_data(as_text=True)
        assert "did not answer within 30 s" in page and "Try again" in page
        # every server of the session is gone (the hung one and the sibling that was ready), no route was made
        assert launcher_sessions(viewer_settings) == [] and routes_of(chp, session_id) == []
        assert server_processes(launcher_service.state_dir) == []
        assert list((launcher_service.state_dir / "process").glob("*.json")) == []
    finally:
        hung.unlink()

    # the fault is over: the same link opens
    (link,) = rows(app, ViewerLink)
    new_id = open_link(client, link.id)
    assert run(app, launch, new_id) == "ready"
    assert sorted(routes_of(chp, new_id)) == sorted(
        [f"/nglancer/{new_id}", f"/cv/{new_id}/raw_ch488_left", f"/cv/{new_id}/raw_ch488_right"]
    )
    assert run(app, stop, new_id, "user") == "stopped"
    assert launcher_sessions(viewer_settings) == [] and server_processes(launcher_service.state_dir) == []


def test_healthz_says_when_the_proxy_is_missing_or_down(
    app, client, viewer_settings, chp, monkeypatch
):
    from tests.support.ports import free_port

    body = client.get("/healthz").get_json()
    assert body["launcher"] == "ok" and body["proxy"] == "ok"

    # no configurable-http-proxy (node missing): views cannot open, said plainly
    monkeypatch.setattr(viewer_settings, "viewer_proxy_api_url", "")
    resp = client.get("/healthz")
    assert resp.status_code == 503
    not_configured = "error: configurable-http-proxy is not configured (VIEWER_PROXY_API_URL)"
    assert resp.get_json()["proxy"].startswith(not_configured)

    # configured but not answering: a fault that names the proxy and its address
    gone = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setattr(viewer_settings, "viewer_proxy_api_url", gone)
    resp = client.get("/healthz")
    assert resp.status_code == 503 and resp.get_json()["status"] == "degraded"
    assert resp.get_json()["proxy"].startswith(f"error: configurable-http-proxy at {gone} is not answering")


def test_without_a_launcher_healthz_has_no_proxy_entry(client):
    assert "proxy" not in client.get("/healthz").get_json()
