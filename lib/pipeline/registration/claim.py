"""One registration per run, however many array tasks need it and in whatever order Slurm starts them.

Every `register` task needs the registration; the first task to arrive does it and the others wait:

- `elastix/registration.lock` is created with O_CREAT | O_EXCL by the task that does the work, which
  keeps touching it while elastix runs (`Claim.kept_fresh`). A lock whose modification time a waiter sees
  unchanged for `STALE_AFTER_S` (its holder was killed) is broken by renaming it away (only one waiter's
  rename succeeds) and claimed anew.
- `elastix/registration.json` (the done marker, written last) records the inputs' fingerprint; a marker
  whose fingerprint differs from the current inputs (a re-run after a new downsize) counts as not done.
- `elastix/registration.failed` holds the reason when the working task failed; waiters that see it
  (re)written while they wait fail with that reason instead of waiting for their time limit, while a
  task that starts after a failure retries.

So no task depends on another being scheduled: with a throttled array the running task simply does the
registration itself.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PipelineError

LOCK_NAME = "registration.lock"
FAILED_NAME = "registration.failed"
STALE_AFTER_S = 600.0
DEFAULT_WAIT_S = 6 * 3600.0  # the register stage's time limit
HEARTBEAT_S = 30.0
# The helper that touches a lock (argv: path, seconds, parent pid) until its parent is gone.
_KEEPER = """
import os, sys, time
path, every, parent = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
while os.getppid() == parent:
    try:
        os.utime(path)
    except OSError:
        pass
    time.sleep(every)
"""


@dataclass(frozen=True)
class Claim:
    """The lock of one registration."""

    path: Path

    @contextmanager
    def kept_fresh(self, every_s: float = HEARTBEAT_S) -> Iterator[None]:
        """Touch the lock every `every_s` while the block runs, from a helper process: elastix holds Python's
        GIL for a whole registration, so no thread of ours would run. The helper ends with the block, or
        by itself when this process dies."""
        argv = [sys.executable, "-c", _KEEPER, str(self.path), repr(every_s), str(os.getpid())]
        keeper = subprocess.Popen(argv, stdin=subprocess.DEVNULL)  # noqa: S603
        try:
            yield
        finally:
            keeper.terminate()
            keeper.wait()


def read_done(done: Path, fingerprint: Mapping[str, Any]) -> dict[str, Any] | None:
    """The done marker's record when it exists and matches the inputs."""
    try:
        record = json.loads(done.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or record.get("fingerprint") != dict(fingerprint):
        return None
    return record


def write_json_atomically(path: Path, record: Mapping[str, Any]) -> None:
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    partial.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    partial.replace(path)


def _try_lock(lock: Path) -> Claim | None:
    try:
        handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o660)
    except FileExistsError:
        return None
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}) + "\n")
    return Claim(lock)


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


class _LockWatch:
    """Breaks the lock when its heartbeat has not changed for `stale_after_s` by our own clock (the holder
    may run on another node whose clock, or the file server's, differs from ours)."""

    def __init__(self, lock: Path, stale_after_s: float) -> None:
        self.lock, self.stale_after_s = lock, stale_after_s
        self.seen: int | None = None
        self.since = time.monotonic()

    def check(self) -> None:
        current = _mtime(self.lock)
        if current != self.seen:
            self.seen, self.since = current, time.monotonic()
        elif current is not None and time.monotonic() - self.since > self.stale_after_s:
            try:
                self.lock.rename(self.lock.with_name(f"{self.lock.name}.stale-{uuid.uuid4().hex}"))
            except FileNotFoundError:
                pass  # another waiter broke it first


def _new_failure(failed: Path, seen_at_start: int | None) -> str | None:
    """The reason in the failure marker if it was written after we started (a changed modification time,
    not a clock comparison); an older marker is a previous attempt's, which this task retries."""
    current = _mtime(failed)
    if current is None or current == seen_at_start:
        return None
    try:
        return failed.read_text(encoding="utf-8").strip() or "unknown reason"
    except FileNotFoundError:
        return None


def once(
    folder: Path,
    done_name: str,
    fingerprint: Mapping[str, Any],
    work: Callable[[Claim], dict[str, Any]],
    *,
    wait_s: float = DEFAULT_WAIT_S,
    poll_s: float = 5.0,
    stale_after_s: float = STALE_AFTER_S,
) -> tuple[dict[str, Any], bool]:
    """Run `work` unless another task has done (or is doing) it for the same fingerprint.

    Returns (done record, whether this task did the work). `work` returns the record to store; the
    fingerprint is added to it."""
    folder.mkdir(parents=True, exist_ok=True)
    done, lock, failed = folder / done_name, folder / LOCK_NAME, folder / FAILED_NAME
    started = time.monotonic()
    failure_at_start = _mtime(failed)
    watch = _LockWatch(lock, stale_after_s)
    while True:
        record = read_done(done, fingerprint)
        if record is not None:
            return record, False
        reason = _new_failure(failed, failure_at_start)
        if reason is not None:
            raise PipelineError(f"the registration failed in another task of this stage: {reason}")
        claim = _try_lock(lock)
        if claim is not None:
            try:
                record = read_done(done, fingerprint)  # finished between our check and our lock
                if record is not None:
                    return record, False
                failed.unlink(missing_ok=True)
                done.unlink(missing_ok=True)
                try:
                    record = {**work(claim), "fingerprint": dict(fingerprint)}
                except BaseException as exc:
                    failed.write_text(f"{exc}\n", encoding="utf-8")
                    raise
                write_json_atomically(done, record)
                return record, True
            finally:
                lock.unlink(missing_ok=True)
        if time.monotonic() - started > wait_s:
            raise PipelineError(f"gave up after {wait_s:.0f} s waiting for the registration held by {lock}")
        watch.check()
        time.sleep(poll_s)
