"""Sessions end to end on the real components: the launcher under gunicorn (process back end) and
configurable-http-proxy. Launch registers routes and answers through the proxy; stop, idle clean-up and the
orphan sweep leave no process or route behind; failures fail cleanly; links relaunch after clean-up."""

from __future__ import annotations

import datetime as dt
import time
import urllib.error
import urllib.request

import requests

from tests.support.auth import sign_in
from tests.support.launcher import TOKEN, auth, server_processes, sid
from tests.support.ports import free_port

from .conftest import OWNER, RAW_SETUP
from .test_setup_pages import post, rows, value


def fetch(url: str, cookie: str = "") -> int:
    """Status of a GET through the proxy, with the browser's access cookie when given."""
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def enter(client, session_id: str) -> tuple[str, str]:
    """What the browser gets from "Open in Neuroglancer": the Neuroglancer address and the access cookie."""
    from lib.viewer_access import COOKIE

    resp = client.get(f"/viewer/session/{session_id}/enter")
    assert resp.status_code == 303, resp.status_code
    cookies = [h for h in resp.headers.getlist("Set-Cookie") if h.startswith(f"{COOKIE}=")]
    assert sorted(c.split("Path=")[1].split(";")[0] for c in cookies) == [f"/cv/{session_id}/",
                                                                        f"/nglancer/{session_id}/"]  # fmt: skip
    assert all("HttpOnly" in c and "SameSite=Lax" in c for c in cookies)
    return resp.headers["Location"], cookies[0].split(";")[0]


def open_link(client, link_id: str) -> str:
    """The link's page starts nothing; its button (a POST) does. Returns the session id."""
    page = client.get(f"/viewer/links/{link_id}")
    assert page.status_code == 200 and 'data-testid="start-viewer"' in page.get_data(as_text=True)
    resp = post(client, f"/viewer/links/{link_id}/open", {})
    assert resp.status_code == 303
    return resp.headers["Location"].rsplit("/", 1)[1]


def launcher_sessions(settings) -> list[str]:
    resp = requests.get(settings.viewer_launcher_url + "/v1/sessions", headers=auth(), timeout=10)
    return [s["session_id"] for s in resp.json()["sessions"]]


def routes_of(chp, session_id: str) -> list[str]:
    return sorted(p for p in chp.client().routes() if session_id in p)


def start_view(app, client, world, *layers) -> str:
    sign_in(client, OWNER)
    resp = post(client, RAW_SETUP, {"layer": [value(x) for x in layers]})
    assert resp.status_code == 303
    return resp.headers["Location"].rsplit("/", 1)[1]


def run(app, fn, *args):
    with app.app_context():
        return fn(*args)


def session_row(app, session_id):
    from lightserv.extensions import db
    from lightserv.models import ViewerSession

    with app.app_context():
        return db.session.get(ViewerSession, session_id)


def test_a_launched_view_answers_through_the_proxy_and_stopping_leaves_nothing(
    app, client, world, viewer_settings, chp, launcher_service
):
    from lightserv.models import EventLog, ViewerSessionContainer
    from lightserv.viewer.launch import launch, stop

    left = world.layer("raw", "488", "left")
    right = world.layer("raw", "488", "right")
    session_id = start_view(app, client, world, left, right)
    assert run(app, launch, session_id) == "ready"
    s = session_row(app, session_id)
    assert s.ready_at is not None
    containers = {c.container_name: c for c in rows(app, ViewerSessionContainer)}
    assert sorted(c.proxy_path for c in containers.values()) == sorted(
        [f"/nglancer/{session_id}", f"/cv/{session_id}/raw_ch488_left", f"/cv/{session_id}/raw_ch488_right"]
    )
    assert routes_of(chp, session_id) == sorted(c.proxy_path for c in containers.values())
    status = client.get(f"/viewer/session/{session_id}/status").get_json()
    assert status["status"] == "ready"
    assert status["url"] == f"/viewer/session/{session_id}/enter"
    viewer_url, cookie = enter(client, session_id)
    assert viewer_url == f"{chp.public_url}/nglancer/{session_id}/v/{s.ng_token}/"
    info = f"{chp.public_url}/cv/{session_id}/raw_ch488_left/info"
    chunk = f"{chp.public_url}/cv/{session_id}/raw_ch488_right/5000_5000_10000/0-128_0-96_0-1"
    assert [fetch(u, cookie) for u in (viewer_url, info, chunk)] == [200, 200, 200]
    assert [fetch(u) for u in (viewer_url, info, chunk)] == [401, 401, 401]  # no cookie: nothing to read
    assert launcher_sessions(viewer_settings) == [session_id]
    # the page's Stop queues the stop; here the task body runs in-process
    assert post(client, f"/viewer/session/{session_id}/stop", {}).status_code == 303
    assert session_row(app, session_id).status == "stopping"
    assert run(app, stop, session_id, "user") == "stopped"
    assert routes_of(chp, session_id) == [] and launcher_sessions(viewer_settings) == []
    assert server_processes(launcher_service.state_dir) == []
    assert fetch(viewer_url, cookie) == 404
    s = session_row(app, session_id)
    assert s.end_reason == "user" and s.ended_at is not None and s.error_message == ""
    actions = [e.action for e in rows(app, EventLog) if e.action.startswith("viewer.session")]
    assert actions == ["viewer.session_started", "viewer.session_stopped"]
    assert run(app, stop, session_id, "user") == "stopped"  # again: nothing left, not an error


def test_idle_sessions_expire_the_link_relaunches_and_orphans_are_swept(app, client, world, viewer_settings, chp):
    from lightserv.common.audit import utcnow
    from lightserv.models import ViewerLink
    from lightserv.viewer import services
    from lightserv.viewer.cleanup import cleanup
    from lightserv.viewer.launch import launch

    left = world.layer("raw", "488", "left")
    session_id = start_view(app, client, world, left)
    assert run(app, launch, session_id) == "ready"
    assert fetch(f"{chp.public_url}/cv/{session_id}/raw_ch488_left/info", enter(client, session_id)[1]) == 200
    report = run(app, cleanup)  # just used: nothing happens
    assert report.expired == [] and session_row(app, session_id).status == "ready"
    assert session_row(app, session_id).last_activity_at is not None
    # an orphan: containers the launcher runs for a session without a row, and a stale route
    orphan = sid()
    requests.post(viewer_settings.viewer_launcher_url + "/v1/sessions", headers=auth(), timeout=60, json={
        "session_id": orphan, "owner": "ghost", "variant": "general",
        "layers": [{"name": "img", "type": "image", "host_path": str(viewer_settings.data_root / left["layer_path"])}],
        "access_key": "ab" * 32, "neuroglancer": {"token": sid(), "public_base_url": chp.public_url}},
    ).raise_for_status()  # fmt: skip
    chp.client().add_route(f"/cv/{orphan}/img", "http://127.0.0.1:9")
    time.sleep(0.6)  # older than the launcher's sweep age here (VIEWER_SWEEP_MIN_AGE_SECONDS=0.5; 600 in production)
    # twelve hours later (the idle time) nobody has touched it
    later = utcnow() + dt.timedelta(seconds=viewer_settings.idle_seconds + 60)
    report = run(app, cleanup, later)
    assert report.expired == [session_id] and report.problems == []
    assert sorted(report.swept_containers) == [f"lsv-{orphan}-cloudvolume-0", f"lsv-{orphan}-neuroglancer-0"]
    assert report.swept_routes == [f"/cv/{orphan}/img"]
    s = session_row(app, session_id)
    assert (s.status, s.end_reason) == ("expired", "idle")
    assert routes_of(chp, session_id) == [] and launcher_sessions(viewer_settings) == []
    assert run(app, cleanup, later).expired == []  # idempotent
    # the link survives and relaunches
    (link,) = rows(app, ViewerLink)
    new_id = open_link(client, link.id)
    assert new_id != session_id
    assert run(app, launch, new_id) == "ready"
    assert fetch(*enter(client, new_id)) == 200
    run(app, lambda: [services.request_stop(x, "user") for x in services.live_sessions()])
    from lightserv.viewer.launch import stop

    assert run(app, stop, new_id, "user") == "stopped"
    assert launcher_sessions(viewer_settings) == []


def test_a_view_launched_while_the_orphan_sweep_runs_keeps_its_routes(
    app, client, world, viewer_settings, chp, monkeypatch
):
    """The sweep reads the live sessions, asks the launcher to remove the rest (seconds when containers stop), then
    removes the routes of sessions that are not live: a view launched meanwhile is live and keeps its routes, so
    "Open in Neuroglancer" reaches Neuroglancer and not the web application behind the proxy."""
    from lightserv.viewer import cleanup as cleanup_module
    from lightserv.viewer.cleanup import sweep_orphans
    from lightserv.viewer.launch import launch, stop

    left = world.layer("raw", "488", "left")
    launched: list[str] = []

    class SlowSweep:
        """The launcher, whose sweep lasts while a researcher starts a view."""

        def __init__(self, real):
            self.real = real

        def sweep(self, keep):
            swept = self.real.sweep(keep)
            new_id = start_view(app, client, world, left)
            assert run(app, launch, new_id) == "ready"
            launched.append(new_id)
            return swept

        def __getattr__(self, name):
            return getattr(self.real, name)

    real_launcher = cleanup_module.launcher
    monkeypatch.setattr(cleanup_module, "launcher", lambda: SlowSweep(real_launcher()))
    report = run(app, sweep_orphans)
    (session_id,) = launched
    assert report.swept_routes == [] and report.problems == []
    assert routes_of(chp, session_id) == [f"/cv/{session_id}/raw_ch488_left", f"/nglancer/{session_id}"]
    location, cookie = enter(client, session_id)
    assert fetch(location, cookie) == 200
    assert run(app, stop, session_id, "user") == "stopped"


def test_a_layer_whose_files_are_gone_fails_the_launch_cleanly(app, client, world, viewer_settings, chp):
    import shutil

    from lightserv.viewer.launch import launch

    left = world.layer("raw", "488", "left")
    right = world.layer("raw", "488", "right")
    session_id = start_view(app, client, world, left, right)
    shutil.rmtree(viewer_settings.data_root / right["layer_path"])
    assert run(app, launch, session_id) == "failed"
    s = session_row(app, session_id)
    assert s.end_reason == "launch_failed" and "raw_ch488_right" in s.error_message
    status = client.get(f"/viewer/session/{session_id}/status").get_json()
    assert status == {"status": "failed", "url": "", "message": s.error_message}
    assert "Try again" in client.get(f"/viewer/session/{session_id}").get_data(as_text=True)
    assert launcher_sessions(viewer_settings) == [] and routes_of(chp, session_id) == []


def test_an_unreachable_launcher_fails_the_session_with_a_message(app, client, world, viewer_settings, monkeypatch):
    from lightserv.viewer.launch import launch

    left = world.layer("raw", "488", "left")
    session_id = start_view(app, client, world, left)
    monkeypatch.setattr(viewer_settings, "viewer_launcher_url", f"http://127.0.0.1:{free_port()}")
    assert run(app, launch, session_id) == "failed"
    assert "the viewer launcher is not reachable" in session_row(app, session_id).error_message


def test_sessions_stuck_starting_fail_and_old_ones_reach_their_maximum_lifetime(app, client, world, viewer_settings):
    from lightserv.common.audit import utcnow
    from lightserv.extensions import db
    from lightserv.models import ViewerSession
    from lightserv.viewer.cleanup import cleanup
    from lightserv.viewer.launch import launch

    left = world.layer("raw", "488", "left")
    stuck = start_view(app, client, world, left)
    old = start_view(app, client, world, left)
    assert run(app, launch, old) == "ready"
    with app.app_context():
        db.session.get(ViewerSession, stuck).created_at = utcnow() - dt.timedelta(minutes=11)
        db.session.get(ViewerSession, old).created_at = utcnow() - dt.timedelta(days=8)
        db.session.commit()
    report = run(app, cleanup)
    assert report.failed == [stuck] and report.expired == [old]
    assert (session_row(app, stuck).end_reason, session_row(app, old).end_reason) == ("launch_failed", "max_lifetime")
    assert launcher_sessions(viewer_settings) == []


def test_without_a_proxy_a_view_fails_with_a_message_naming_it(app, client, world, viewer_settings, monkeypatch):
    """Only behind the proxy do the browser's access cookie and the data share an origin."""
    from lightserv.viewer.launch import launch

    monkeypatch.setattr(viewer_settings, "viewer_proxy_api_url", "")
    session_id = start_view(app, client, world, world.layer("raw", "488", "left"))
    assert run(app, launch, session_id) == "failed"
    assert "configurable-http-proxy" in session_row(app, session_id).error_message
    assert launcher_sessions(viewer_settings) == []


def test_the_admin_page_shows_containers_and_orphans_and_its_posts_queue_work(
    app, client, world, viewer_settings, make_user
):
    from lightserv.viewer.launch import launch, stop

    left = world.layer("raw", "488", "left")
    session_id = start_view(app, client, world, left)
    assert run(app, launch, session_id) == "ready"
    admin = make_user("boss", roles=["facility_admin"])
    sign_in(client, admin)
    html = client.get("/viewer/admin/sessions").get_data(as_text=True)
    assert f"lsv-{session_id}-cloudvolume-0" in html and "process:cloudvolume/server.py" in html
    assert "orphan" not in html.split("Ended in the last 7 days")[0].lower().replace("sweep orphans now", "")
    assert post(client, f"/viewer/admin/sessions/{session_id}/stop", {}).status_code == 303
    assert session_row(app, session_id).status == "stopping"
    assert run(app, stop, session_id, "admin") == "stopped"
    assert session_row(app, session_id).end_reason == "admin"
    assert launcher_sessions(viewer_settings) == []
    assert post(client, "/viewer/admin/sweep", {}).status_code == 303
    assert TOKEN not in html


def test_an_atlas_opens_on_its_own_with_region_names_and_its_link_is_shared(
    app, client, world, viewer_settings, chp, make_user
):
    from lightserv.models import ViewerLink, ViewerSession
    from lightserv.viewer.launch import launch, stop

    someone = make_user("visitor")
    sign_in(client, someone)
    page = client.get("/viewer/atlas/allen_2017")
    assert page.status_code == 200 and 'data-testid="start-viewer"' in page.get_data(as_text=True)
    assert rows(app, ViewerLink) == []  # showing the page makes nothing
    resp = post(client, "/viewer/atlas/allen_2017/open", {})
    assert resp.status_code == 303
    session_id = resp.headers["Location"].rsplit("/", 1)[1]
    assert run(app, launch, session_id) == "ready"
    (link,) = rows(app, ViewerLink)
    assert link.title == "Atlas: Allen atlas (2017)" and link.request_username is None
    assert {s.variant for s in rows(app, ViewerSession)} == {"registration"}
    base = f"{chp.public_url}/cv/{session_id}/atlas_allen_2017"
    cookie = enter(client, session_id)[1]
    assert fetch(base + "/info", cookie) == 200 and fetch(base + "/segment_properties/info", cookie) == 200
    assert post(client, "/viewer/atlas/allen_2017/open", {}).headers["Location"].endswith(session_id)  # reused
    assert client.get("/viewer/atlas/paxinos").status_code == 404  # not installed
    assert run(app, stop, session_id, "user") == "stopped"
    assert launcher_sessions(viewer_settings) == []
