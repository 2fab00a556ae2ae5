"""The traffic of the load test and the soak: Locust runs the users of a plan headless in its own process
(`benchmarks/locustfile.py`) and keeps the per-page statistics (`locust_stats`)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.load import Outcome, Plan

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "benchmarks" / "locustfile.py"


def run_users(base_url: str, plan: Plan, seconds: float, think: float = 1.0, seed: int = 11) -> Outcome:
    """Run every user of the plan for `seconds` with Locust, headless in its own process (each user
    finishes the action it is in); what they did and Locust's statistics."""
    outcome = Outcome()
    outcome.load_average["start"] = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="lightserv-locust-") as tmp:
        plan_path, out_path, log_path = Path(tmp, "plan.json"), Path(tmp, "outcome.json"), Path(tmp, "locust.log")
        plan.write(plan_path)
        n = str(len(plan.users))
        argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", base_url]
        argv += ["--users", n, "--spawn-rate", n, "--run-time", f"{max(1, round(seconds))}s", "--stop-timeout", "120"]
        argv += ["--only-summary", "--exit-code-on-error", "0", "--loglevel", "WARNING"]
        argv += ["--plan", str(plan_path), "--outcome", str(out_path), "--think", str(think), "--seed", str(seed)]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with open(log_path, "wb") as log:
            done = subprocess.run(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=seconds + 600)  # noqa: S603
        if done.returncode or not out_path.exists():
            raise RuntimeError(f"locust exited with {done.returncode}:\n{log_path.read_text()[-5000:]}")
        found = Outcome.from_json(out_path.read_text())
    found.load_average = {**outcome.load_average, "end": [round(x, 2) for x in os.getloadavg()]}
    return found


def locust_stats(stats) -> dict[str, dict]:
    """Locust's figures (a `RequestStats`) per page name and for all pages, in ms."""

    def figures(entry) -> dict:
        return {
            "requests": entry.num_requests,
            "errors": entry.num_failures,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p95_ms": entry.get_response_time_percentile(0.95),
            "max_ms": round(entry.max_response_time or 0, 1),
        }

    pages = sorted(stats.entries.values(), key=lambda e: -e.num_requests)
    return {**{e.name: figures(e) for e in pages}, "all pages": figures(stats.total)}
