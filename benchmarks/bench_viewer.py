"""Benchmark of viewer launches with the `process` back end: the time from the setup form's
POST to a link whose layers all answer, for 1 and 4 layers.

    python -m benchmarks.bench_viewer [--repeats 5]

1. A fresh schema prefix (the app's own `init_db`), a Redis database of its own, temporary DATA_ROOT,
   ATLAS_ROOT and launcher state.
2. A request with four ready raw layers (256 x 256 x 16 uint16, two scales) written by lib.precomputed.
3. The real stack, as `make run` starts it: configurable-http-proxy (var/node) in front of gunicorn (2 workers),
   a Celery worker (concurrency 2), and the viewer-launcher under gunicorn with the `process` back end.
4. A logged-in client posts the setup form with 1 or 4 layers, polls the session's status endpoint as the page
   does (every 0.5 s here instead of 2 s, so the polling interval does not dominate), then checks that the
   viewer page and every layer's `info` answer 200 through the proxy. The clock stops when all of them have.
   The session is stopped (not timed) before the next repeat.
5. Writes `benchmarks/results/viewer.json` and removes everything it made.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_lists import free_port, redis_database  # noqa: E402
from benchmarks.seed import drop_prefix, settings_for  # noqa: E402
from tests.support.processes import gunicorn_args  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "viewer.json"
PASSWORD = "benchmark password 9"  # noqa: S105 - a throwaway account in a throwaway schema
OWNER, REQUEST = "bench_viewer", "launches"
BIN = Path(sys.executable).parent


def build_world(app, data_root: Path) -> list[str]:
    """The request and its four ready raw layers; returns the setup page's checkbox values."""
    import numpy as np
    import tifffile

    from lib.precomputed import parse_params, run_stage
    from lightserv.auth import services
    from lightserv.db import get_schemas
    from lightserv.layers.services import LayerTarget
    from lightserv.requests.services import submit_request
    from lightserv.requests.submission import ChannelWish, NewRequest, ResolutionWish, SampleWish

    with app.test_request_context():
        services.ensure_user(OWNER, password=PASSWORD, actor="bench")
        channels = [ChannelWish("488", registration=True), ChannelWish("647", cell_detection=True)]
        wishes = ResolutionWish("1.3x", channels)
        sample = SampleWish("s1", "idisco_abbreviated", resolutions=[wishes],
                            expected_handoff_date=dt.date(2030, 1, 1))
        submit_request(NewRequest(owner=OWNER, request_name=REQUEST, number_of_samples=1, samples=[sample],
                                  description="viewer benchmark", labname="Bench", species="mouse",
                                  correspondence_email="bench@example.org",
                                  raw_data_retention_preference="not_sure"), OWNER)  # fmt: skip
        ls = get_schemas().lightsheet
        ikey = dict(username=OWNER, request_name=REQUEST, sample_name="s1", imaging_request_number=1)
        ls.Request.ImagingRequest.update1({**ikey, "imaging_progress": "complete"})
        values = []
        rng = np.random.default_rng(9)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        for channel in ("488", "647"):
            for sheet in ("left", "right"):
                target = LayerTarget(OWNER, REQUEST, "s1", 1, "1.3x", channel, "raw", lightsheet=sheet)
                folder = data_root / target.folder()
                work = Path(tempfile.mkdtemp())
                tif = work / "stack.tif"
                tifffile.imwrite(tif, rng.integers(0, 4000, size=(16, 256, 256), dtype=np.uint16))
                params = parse_params({"layer_path": str(folder), "input_path": str(tif), "num_scales": 2,
                                       "progress_dir": str(work / "progress"), "voxel_size_nm": [5000, 5000, 10000],
                                       "z_downsampling": "never"})  # fmt: skip
                for stage in ("info", "upload", "downsample"):
                    run_stage(stage, params)
                shutil.rmtree(work)
                ls.Request.DataLayer.insert1(
                    dict(target.key(), layer_name=target.name(), layer_type="image", layer_path=str(target.folder()),
                         source_path="x", status="ready", data_type="uint16", voxel_x_nm=5000.0, voxel_y_nm=5000.0,
                         voxel_z_nm=10000.0, size_x=256, size_y=256, size_z=16, num_scales=2, run_id=None,
                         created_at=now, ready_at=now, failure_reason="")  # fmt: skip
                )
                values.append(f"1.3x|0|raw|{channel}|{sheet}")
    return values


def start(name: str, args: list[str], env: dict, logs: Path) -> subprocess.Popen:
    log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603


def wait_http(url: str, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html
    )
    assert match, "no CSRF token"
    return match.group(1)


def launch_once(http, base: str, values: list[str]) -> float:
    setup = f"{base}/viewer/setup/{OWNER}/{REQUEST}/s1/1/1"
    token = csrf(http.get(setup).text)
    started = time.perf_counter()
    resp = http.post(setup, data={"csrf_token": token, "layer": values}, allow_redirects=False)
    assert resp.status_code == 303, resp.status_code
    session_id = resp.headers["Location"].rsplit("/", 1)[1]
    while True:
        state = http.get(f"{base}/viewer/session/{session_id}/status").json()
        if state["status"] == "ready":
            break
        assert state["status"] == "starting", state
        time.sleep(0.5)
    names = [f"raw_ch{v.split('|')[3]}_{v.split('|')[4]}" for v in values]
    urls = [base + state["url"]] + [f"{base}/cv/{session_id}/{name}/info" for name in names]  # cookie, then data
    assert all(http.get(u).status_code == 200 for u in urls)
    elapsed = time.perf_counter() - started
    token = csrf(http.get(f"{base}/viewer/session/{session_id}").text)
    http.post(f"{base}/viewer/session/{session_id}/stop", data={"csrf_token": token})
    while http.get(f"{base}/viewer/session/{session_id}/status").json()["status"] != "stopped":
        time.sleep(0.3)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    import requests

    from lib.proxy import start_proxy
    from lightserv import create_app
    from lightserv.dbinit import init_db

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    prefix = f"lsbench_viewer_{uuid.uuid4().hex[:6]}_"
    work = Path(tempfile.mkdtemp(prefix="bench-viewer-"))
    (work / "logs").mkdir()
    launcher_token, proxy_token = secrets.token_urlsafe(32), secrets.token_hex(32)
    procs: list[subprocess.Popen] = []
    proxy = None
    results: dict[str, list[float]] = {}
    try:
        with redis_database() as redis_url:
            web_port, launcher_port = free_port(), free_port()
            proxy = start_proxy(free_port(), free_port(), proxy_token, work / "logs" / "chp.log",
                                default_target=f"http://127.0.0.1:{web_port}")  # fmt: skip
            overrides = dict(
                redis_url=redis_url, data_root=work / "data", atlas_root=work / "atlas",
                viewer_launcher_url=f"http://127.0.0.1:{launcher_port}", viewer_launcher_token=launcher_token,
                viewer_proxy_api_url=proxy.api_url, configproxy_auth_token=proxy_token,
                public_base_url=proxy.public_url,
            )  # fmt: skip
            settings = settings_for(prefix, **overrides)
            app = create_app(settings)
            init_db(app)
            values = build_world(app, work / "data")
            env = {k: v for k, v in os.environ.items() if not k.startswith("VIEWER_")}
            env.update({k.upper(): str(v) for k, v in settings.model_dump().items() if v is not None
                        and not isinstance(v, dict)}, PYTHONPATH=str(ROOT))  # fmt: skip
            launcher_env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
            launcher_env.update(VIEWER_LAUNCHER_TOKEN=launcher_token, LIGHTSERV_MODE="TEST",
                                ALLOWED_MOUNT_ROOTS=f"{work / 'data'}:{work / 'atlas'}",
                                PUBLIC_BASE_URL=proxy.public_url,
                                VIEWER_LAUNCHER_STATE_DIR=str(work / "launcher"),
                                PYTHONPATH=str(ROOT / "viewer-launcher"))  # fmt: skip
            procs.append(start("launcher", [sys.executable, "-m", "viewer_launcher", "--bind",
                                            f"127.0.0.1:{launcher_port}"], launcher_env, work / "logs"))  # fmt: skip
            procs.append(start("web", gunicorn_args(web_port, workers=2), env, work / "logs"))
            procs.append(start("worker", [str(BIN / "celery"), "-A", "lightserv.worker", "worker", "--loglevel",
                                          "WARNING", "--concurrency", "2"], env, work / "logs"))  # fmt: skip
            wait_http(f"http://127.0.0.1:{launcher_port}/healthz")
            wait_http(proxy.public_url + "/login")
            http = requests.Session()
            token = csrf(http.get(proxy.public_url + "/login").text)
            http.post(proxy.public_url + "/login", data={"csrf_token": token, "username": OWNER, "password": PASSWORD})
            time.sleep(3)  # let the worker connect
            for n in (1, 4):
                results[str(n)] = [launch_once(http, proxy.public_url, values[:n]) for _ in range(args.repeats)]
                print(f"{n} layer(s): " + ", ".join(f"{t:.2f}" for t in results[str(n)]) + " s")
    finally:
        for proc in reversed(procs):
            with __import__("contextlib").suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
            with __import__("contextlib").suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
        if proxy is not None:
            proxy.stop()
        drop_prefix(prefix)
        shutil.rmtree(work, ignore_errors=True)
    summary = {
        n: {"median": round(statistics.median(v), 2), "min": round(min(v), 2), "max": round(max(v), 2),
            "runs": [round(x, 2) for x in v]}
        for n, v in results.items()
    }  # fmt: skip
    RESULTS.write_text(json.dumps({
        "measured": "seconds from the setup form's POST to a ready session whose viewer page and every layer's "
                    "info answer 200 through configurable-http-proxy (process back end)",
        "layers": summary,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "date": dt.date.today().isoformat(),
    }, indent=2) + "\n")  # fmt: skip
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
