"""Locks of the cluster engine. Redis locks (one poller at a time, one submitter per run) that a killed process
holds only briefly: a short expiry, extended by a thread while the holder lives, deleted only by its holder. And
the run's row lock (`lock_run`): one settler of a run at a time, released with its transaction."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis as redis_lib

from lightserv.common.redis import get_redis
from lightserv.db import get_schemas
from lightserv.workflow.queries import lock_rows

log = logging.getLogger(__name__)


class _Keeper(threading.Thread):
    """Extends our lock every third of its expiry; a killed process stops extending it."""

    def __init__(self, redis, key: str, token: str, seconds: int):
        super().__init__(name=f"lightserv-lock-{key}", daemon=True)
        self.redis, self.key, self.token, self.seconds = redis, key, token, seconds
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.seconds / 3):
            try:
                if self.redis.get(self.key) == self.token:
                    self.redis.expire(self.key, self.seconds)
            except Exception:  # a Redis blip: the lock may lapse, the next holder then simply runs
                log.warning("lock %s not extended", self.key, exc_info=True)


def _take(redis, key: str, token: str, seconds: int, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while not redis.set(key, token, nx=True, ex=seconds):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
    return True


@contextmanager
def redis_lock(key: str, seconds: int, *, wait: float = 0.0, if_unreachable: bool = False) -> Iterator[bool]:
    """Hold `key` while the block runs; yields False if another holder kept it for `wait` seconds.
    With `if_unreachable`, a Redis that cannot be asked yields True without a lock (logged)."""
    token = uuid.uuid4().hex
    try:
        redis = get_redis()
        taken = _take(redis, key, token, seconds, wait)
    except redis_lib.RedisError:
        if not if_unreachable:
            raise
        log.warning("Redis unreachable: %s not taken, going on without it", key, exc_info=True)
        taken = None
    if not taken:  # None: Redis unreachable, going on unlocked
        yield taken is None
        return
    keeper = _Keeper(redis, key, token, seconds)
    keeper.start()
    try:
        yield True
    finally:
        keeper.done.set()
        try:
            # delete only our own lock (a holder that outlived its lock must not delete the next one's)
            if redis.get(key) == token:
                redis.delete(key)
        except redis_lib.RedisError:
            log.warning("lock %s not released; it expires in %s s", key, seconds, exc_info=True)


def lock_run(run_id: int) -> dict:
    """Lock the run's row until the open DataJoint transaction ends; its committed `status` and
    `superseded_by_run_id` (a locking read: newer than the transaction's snapshot)."""
    schemas = get_schemas()
    rows = lock_rows(
        schemas.connection,
        schemas.jobs.PipelineRun,
        {"run_id": run_id},
        ("run_id",),
        columns="status, superseded_by_run_id",
    )
    if not rows:
        raise LookupError(f"no run {run_id}")
    return dict(rows[0])
