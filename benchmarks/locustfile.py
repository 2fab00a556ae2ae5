"""Locust's side of the load test: one Locust user per user of the plan, playing its part of the scenario in
`benchmarks/load.py`; when the run stops, what the users did and Locust's statistics per page are written
for the driver. Started headless by `benchmarks.traffic.run_users`:

    python -m locust -f benchmarks/locustfile.py --headless --host URL --users N --spawn-rate N \
        --run-time 300s --plan PLAN.json --outcome OUT.json [--think 1.0] [--seed 11]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from locust import HttpUser, events, task
from locust.exception import StopUser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import load  # noqa: E402
from benchmarks.traffic import locust_stats  # noqa: E402

RUN: dict = {}  # plan, users still to be played, outcome, think, seed, start times


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--plan", help="the plan written by benchmarks.load (JSON)")
    parser.add_argument("--outcome", help="where to write what the users did and Locust's statistics (JSON)")
    parser.add_argument("--think", type=float, default=1.0, help="longest pause between two actions, seconds")
    parser.add_argument("--seed", type=int, default=11)


@events.test_start.add_listener
def _start(environment, **_) -> None:
    options = environment.parsed_options
    plan = load.Plan.read(Path(options.plan))
    RUN.update(plan=plan, users=list(plan.users), outcome=load.Outcome(), think=options.think, seed=options.seed)
    RUN.update(started=time.monotonic(), cpu=time.process_time())


@events.test_stop.add_listener
def _stop(environment, **_) -> None:
    outcome: load.Outcome = RUN["outcome"]
    outcome.wall_seconds = time.monotonic() - RUN["started"]
    outcome.driver_cpu_seconds = time.process_time() - RUN["cpu"]
    outcome.stats = locust_stats(environment.stats)
    Path(environment.parsed_options.outcome).write_text(outcome.to_json())


class FacilityUser(HttpUser):
    """The next user of the plan: logs in (staff start their batches), then acts and thinks in turn."""

    def on_start(self) -> None:
        # one connection per request, as nginx passes requests to gunicorn in production (no upstream keep-alive):
        # a kept-alive connection stays with the gunicorn worker that accepted it, which runs one request at a
        # time, so where 20 users' connections happened to land decided the run's percentiles
        self.client.headers["Connection"] = "close"
        user = RUN["users"].pop(0)
        browser = load.Browser(self.client, user, RUN["outcome"])
        self.scenario = load.SimulatedUser(RUN["plan"], user, browser, RUN["seed"])
        if not self.scenario.start():
            raise StopUser()

    def wait_time(self) -> float:
        return self.scenario.rng.uniform(0, RUN["think"])

    @task
    def act(self) -> None:
        self.scenario.act()
