"""Named points in settling runs where a fault test stops the process as a crash would.

A worker started with LIGHTSERV_POLLER_CRASH_AT=<point> in TEST mode SIGKILLs its whole process group (the
Celery master and its pool, as an OOM kill or a pulled plug would) when it reaches that point. Anywhere else,
and in every other mode, a point does nothing.
"""

from __future__ import annotations

import logging
import os
import signal

from flask import current_app

ENV = "LIGHTSERV_POLLER_CRASH_AT"
#: the points, in the order a poll reaches them
POINTS = (
    "queried",  # the scheduler answered, nothing written yet
    "job_written",  # the first job change committed, its run not settled
    "stage_triggered",  # a completed stage's hooks ran, not committed
    "run_succeeded",  # a run's success status and hooks written, not committed
    "run_settled",  # a run's success committed, its outbox work not yet handed to the broker
    "jobs_cancelled",  # a failed run's other jobs cancelled on the cluster, the run not marked
    "run_failed",  # a run's failure and hooks written, not committed
    "failure_committed",  # a run's failure committed, its email not yet queued
)
log = logging.getLogger(__name__)


def crash_point(name: str) -> None:
    if os.environ.get(ENV) != name or current_app.config["SETTINGS"].lightserv_mode != "TEST":
        return
    log.warning("fault test: killing this worker at %s", name)
    logging.shutdown()
    os.killpg(os.getpgrp(), signal.SIGKILL)
