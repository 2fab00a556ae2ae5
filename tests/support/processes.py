"""Start the real programs (gunicorn, Celery worker and beat) as subprocesses with the test settings."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def env_for(overrides: dict) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    for key, value in overrides.items():
        env[key.upper()] = str(value)
    env["PYTHONPATH"] = str(ROOT)
    return env


class Proc:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


GUNICORN_CONFIG = ROOT / "lightserv" / "gunicorn.conf.py"


def gunicorn_args(port: int, **options) -> list[str]:
    """The web app's gunicorn command with the project's config (lightserv/gunicorn.conf.py) on a loopback
    port; `options` (workers=4, threads=1, ...) override single settings of the config."""
    args = [str(BIN / "gunicorn"), "--config", str(GUNICORN_CONFIG), "--bind", f"127.0.0.1:{port}"]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return args


def gunicorn(env: dict[str, str], port: int, log_dir: Path, **options) -> Proc:
    return Proc("web", gunicorn_args(port, **options), env, log_dir)


def production_web_options() -> dict[str, str | int]:
    """gunicorn's worker class, workers, threads and timeout as the production image runs the web app: the
    project's config under the image's WEB_* environment (flaskcelery.Dockerfile)."""
    image_env = dict(re.findall(r"\b(WEB_[A-Z_]+)=(\S+)", (ROOT / "flaskcelery.Dockerfile").read_text()))
    with mock.patch.dict(os.environ, image_env):
        config = runpy.run_path(str(GUNICORN_CONFIG))
    return {name: config[name] for name in ("worker_class", "workers", "threads", "timeout")}


def celery_worker(env: dict[str, str], log_dir: Path, name: str = "worker", concurrency: int = 1) -> Proc:
    return Proc(
        name,
        [
            str(BIN / "celery"),
            "-A",
            "lightserv.worker",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}@%h",
        ],
        env,
        log_dir,
    )


def celery_beat(env: dict[str, str], log_dir: Path) -> Proc:
    return Proc(
        "beat",
        [
            str(BIN / "celery"),
            "-A",
            "lightserv.worker",
            "beat",
            "--loglevel",
            "INFO",
            "-S",
            "lightserv.celery_app:HeartbeatScheduler",
            "--schedule",
            str(log_dir / "celerybeat-schedule"),
        ],
        env,
        log_dir,
    )


def wait_http(url: str, timeout: float = 60.0, proc: Proc | None = None, expect=(200,)) -> float:
    """Wait until `url` answers with a status in `expect`; returns the seconds it took."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < timeout:
        if proc is not None and proc.popen.poll() is not None:
            raise AssertionError(f"{proc.name} exited early:\n{proc.log()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310
                if resp.status in expect:
                    return time.monotonic() - start
                last = resp.status
        except urllib.error.HTTPError as exc:
            if exc.code in expect:
                return time.monotonic() - start
            last = exc.code
        except OSError as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer {expect} within {timeout} s (last: {last})")
