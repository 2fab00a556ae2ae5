"""Run the launcher under gunicorn: `python -m viewer_launcher [--bind HOST:PORT]`.

Threads serve concurrent launches (each waits for readiness probes), and the worker timeout is above the
readiness timeout so a slow launch is never killed half way. There is no debug server.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .config import CHECKOUT, ConfigError, LauncherConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m viewer_launcher", description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default=os.environ.get("VIEWER_LAUNCHER_BIND", "127.0.0.1:8090"))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("VIEWER_LAUNCHER_WORKERS", "2")))
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    try:
        config = LauncherConfig.from_env()  # fail here, with the setting's name, before gunicorn starts
    except ConfigError as exc:
        print(f"viewer-launcher cannot start: {exc}", file=sys.stderr)
        return 2
    timeout = int(config.ready_timeout * 2 + 30)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [
        str(gunicorn) if gunicorn.exists() else "gunicorn",
        "--bind", args.bind,
        "--workers", str(args.workers),
        "--threads", str(args.threads),
        "--timeout", str(timeout),
        "--graceful-timeout", "10",
        "--access-logfile", "-",
        "--chdir", str(Path(__file__).resolve().parent.parent),
        "viewer_launcher.wsgi:app",
    ]  # fmt: skip
    if (CHECKOUT / "lib" / "viewer_access.py").is_file():  # in a checkout; the image has lib/ beside the package
        command[-1:-1] = ["--pythonpath", str(CHECKOUT)]
    os.execv(command[0], command) if os.path.isabs(command[0]) else os.execvp(command[0], command)  # noqa: S606
    return 0


if __name__ == "__main__":
    sys.exit(main())
