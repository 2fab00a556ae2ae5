"""The supervisor of one local job: a small detached process that does what slurmctld and slurmstepd do
for that job, and writes every change to the job's record (store.py).

1. Waits until every dependency is COMPLETED; if one ends otherwise (or the job is cancelled first) the
   job ends CANCELLED with reason DependencyNeverSatisfied, like Slurm's `--kill-on-invalid-dep=yes`.
2. Runs the tasks (one process per array index, at most `max_concurrent` at once), each in its own
   process group, in the working dir, with Slurm's environment variables, stdout/stderr to the expanded
   log paths, and an address-space limit (RLIMIT_AS) equal to the memory request.
3. Ends each task as COMPLETED, FAILED (`code:signal`), OUT_OF_MEMORY (non-zero exit with MemoryError /
   ENOMEM in its stderr), TIMEOUT (time limit reached: SIGTERM, then SIGKILL after KILL_WAIT) or
   CANCELLED by <uid> (cancel asked: same signals).

Run as `python -c <boot> <state_dir> <job_id>` by `LocalExecutor.submit`; it forks once so the caller can
reap the parent at once, and the parent records the child's pid before exiting.
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import IO

from ..accounting import pool_job
from ..types import ARRAY_INDEX, SlurmState, StageSpec
from .store import (
    NO_TASK,
    JobStore,
    Record,
    now_text,
    process_start_ticks,
    record_rows,
    spec_from_json,
    supervisor_alive,
)

log = logging.getLogger("lightserv.local_supervisor")

KILL_WAIT = 2.0  # seconds between SIGTERM and SIGKILL, like Slurm's KillWait
TICK = 0.2
DEPENDENCY_POLL = 0.5
NO_ARRAY_INDEX = "4294967294"  # what Slurm substitutes for %a in a job that is not an array
OOM_MARKERS = (b"MemoryError", b"Cannot allocate memory", b"std::bad_alloc", b"out of memory", b"Out of memory")


def expand_log_path(pattern: str, job_id: str, task: str, name: str) -> str:
    """Slurm's filename patterns: %A/%j job id, %a array index, %x job name, %u user, %N host, %% a %."""
    values = {
        "A": job_id,
        "j": job_id,
        "a": task if task != NO_TASK else NO_ARRAY_INDEX,
        "x": name,
        "u": _user(),
        "N": socket.gethostname().split(".")[0],
        "%": "%",
    }
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "%" and i + 1 < len(pattern) and pattern[i + 1] in values:
            out.append(values[pattern[i + 1]])
            i += 2
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


def _user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


class _Task:
    def __init__(self, key: str, popen: subprocess.Popen[bytes], stderr_path: str, limit: float):
        self.key = key
        self.popen = popen
        self.stderr_path = stderr_path
        self.deadline = time.monotonic() + limit


class Supervisor:
    def __init__(self, store: JobStore, job_id: str):
        self.store = store
        self.job_id = job_id
        record = store.read(job_id)
        if record is None:
            raise SystemExit(f"no record for job {job_id}")
        self.spec: StageSpec = spec_from_json(record["spec"])
        self.task_keys: list[str] = list(record["tasks"])
        self.terminate = False

    # -- record helpers ----------------------------------------------------------------------------
    def _set_tasks(self, keys: list[str], reason: str | None = None, **fields: object) -> None:
        def change(record: Record) -> None:
            for key in keys:
                record["tasks"][key].update(fields)
            if reason is not None:
                record["reason"] = reason

        if keys or reason is not None:
            self.store.update(self.job_id, change)

    def cancel_uid(self) -> int | None:
        """The uid that asked for cancellation (0 for a bare SIGTERM), or None."""
        cancel = (self.store.read(self.job_id) or {}).get("cancel")
        if cancel:
            return int(cancel["uid"])
        return 0 if self.terminate else None

    # -- phases ------------------------------------------------------------------------------------
    def run(self) -> None:
        if self.wait_for_dependencies():
            self.run_tasks()

    def wait_for_dependencies(self) -> bool:
        while True:
            uid = self.cancel_uid()
            if uid is not None:
                self._set_tasks(self.task_keys, state="CANCELLED", raw_state=f"CANCELLED by {uid}", end=now_text())
                return False
            states = [self._dependency_state(dep) for dep in self.spec.dependencies]
            if all(s is SlurmState.COMPLETED for s in states):
                return True
            if any(s.is_terminal for s in states):
                self._set_tasks(
                    self.task_keys,
                    reason="DependencyNeverSatisfied",
                    state="CANCELLED",
                    raw_state="CANCELLED",
                    end=now_text(),
                )
                return False
            time.sleep(DEPENDENCY_POLL)

    def _dependency_state(self, job_id: str) -> SlurmState:
        record = self.store.read(job_id)
        if record is None:
            return SlurmState.UNKNOWN
        state = pool_job(job_id, record_rows(record)).state
        if not state.is_terminal and record.get("supervisor") and not supervisor_alive(record):
            return SlurmState.NODE_FAIL  # its supervisor is gone: it will never complete
        return state

    def run_tasks(self) -> None:
        spec = self.spec
        pending = deque(self.task_keys)
        running: dict[str, _Task] = {}
        cpus = os.cpu_count() or 1
        cap = (
            spec.array.max_concurrent
            if spec.array and spec.array.max_concurrent
            else max(1, cpus // spec.resources.cpus)
        )
        while pending or running:
            uid = self.cancel_uid()
            if uid is not None:
                self._stop_all(running, f"CANCELLED by {uid}", "0:15")
                self._set_tasks(list(pending), state="CANCELLED", raw_state=f"CANCELLED by {uid}", end=now_text())
                return
            while pending and len(running) < cap:
                key = pending.popleft()
                task = self._start(key)
                if task is not None:
                    running[key] = task
            for key, task in list(running.items()):
                if _exited(task.popen):
                    del running[key]
                    self._finish(task, _reap(task.popen))
                elif time.monotonic() >= task.deadline:
                    del running[key]
                    self._note(task.stderr_path, "DUE TO TIME LIMIT")
                    _kill(task.popen)
                    self._set_tasks([key], state="TIMEOUT", raw_state="TIMEOUT", exit_code="0:0", end=now_text())
            time.sleep(TICK)

    # -- tasks -------------------------------------------------------------------------------------
    def _start(self, key: str) -> _Task | None:
        spec = self.spec
        index = "" if key == NO_TASK else key
        argv = [arg.replace(ARRAY_INDEX, index) for arg in spec.argv]
        out_path = expand_log_path(spec.stdout, self.job_id, key, spec.name)
        err_path = expand_log_path(spec.stderr, self.job_id, key, spec.name)
        env = self._environment(index)
        mem_bytes = spec.resources.mem_mb * 1024 * 1024

        def limits() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        handles: list[IO[bytes]] = []
        try:
            for path in dict.fromkeys((out_path, err_path)):
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                handles.append(open(path, "wb"))  # noqa: SIM115 - closed below, the child keeps its copy
            out = handles[0]
            err = handles[-1]
            popen = subprocess.Popen(  # noqa: S603 - argv list, no shell
                argv,
                cwd=spec.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                preexec_fn=limits,  # the supervisor is single-threaded
            )
        except OSError as exc:
            log.error("job %s task %s could not start: %s", self.job_id, key, exc)
            with open(err_path, "ab") as fh:
                fh.write(f"lightserv-local: error: could not start {argv[0]}: {exc}\n".encode())
            self._set_tasks(
                [key], state="FAILED", raw_state="FAILED", exit_code="1:0", start=now_text(), end=now_text()
            )
            return None
        finally:
            for handle in handles:
                handle.close()
        self._set_tasks([key], state="RUNNING", raw_state="RUNNING", start=now_text(), pid=popen.pid)
        return _Task(key, popen, err_path, spec.resources.time_limit_seconds)

    def _environment(self, index: str) -> dict[str, str]:
        spec = self.spec
        env = dict(os.environ)
        env.update(
            SLURM_JOB_ID=self.job_id,
            SLURM_JOBID=self.job_id,
            SLURM_JOB_NAME=spec.name,
            SLURM_CPUS_PER_TASK=str(spec.resources.cpus),
            SLURM_MEM_PER_NODE=str(spec.resources.mem_mb),
            SLURM_SUBMIT_DIR=spec.workdir,
            SLURM_CLUSTER_NAME="local",
        )
        if spec.array is not None:
            env.update(
                SLURM_ARRAY_JOB_ID=self.job_id,
                SLURM_ARRAY_TASK_ID=index,
                SLURM_ARRAY_TASK_COUNT=str(spec.array.size),
                SLURM_ARRAY_TASK_MIN=str(spec.array.first),
                SLURM_ARRAY_TASK_MAX=str(spec.array.last),
            )
        env.update(spec.env)
        return env

    def _finish(self, task: _Task, code: int) -> None:
        exit_code = f"{code}:0" if code >= 0 else f"0:{-code}"
        if code == 0:
            state = "COMPLETED"
        elif _ran_out_of_memory(task.stderr_path):
            state = "OUT_OF_MEMORY"
        else:
            state = "FAILED"
        self._set_tasks([task.key], state=state, raw_state=state, exit_code=exit_code, end=now_text())

    def _stop_all(self, running: dict[str, _Task], raw_state: str, exit_code: str) -> None:
        for task in running.values():
            self._note(task.stderr_path, "")
            _kill(task.popen)
        self._set_tasks(list(running), state="CANCELLED", raw_state=raw_state, exit_code=exit_code, end=now_text())
        running.clear()

    def _note(self, stderr_path: str, why: str) -> None:
        host = socket.gethostname().split(".")[0]
        line = f"lightserv-local: error: *** JOB {self.job_id} ON {host} CANCELLED AT {now_text()} {why}".rstrip()
        try:
            with open(stderr_path, "ab") as fh:
                fh.write(f"{line} ***\n".encode())
        except OSError:
            pass


def _exited(popen: subprocess.Popen[bytes]) -> bool:
    """Whether the task's main process has exited, without reaping it: while it is an unreaped zombie
    its pid, and so its process group id, cannot be reused, so signalling the group stays safe."""
    if popen.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _reap(popen: subprocess.Popen[bytes]) -> int:
    """SIGKILL what is left of the task's process group (like proctrack), then reap the main process."""
    try:
        os.killpg(popen.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return popen.wait()


def _kill(popen: subprocess.Popen[bytes]) -> None:
    """SIGTERM the task's process group, SIGKILL it after KILL_WAIT (or once the main process is gone)."""
    try:
        os.killpg(popen.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + KILL_WAIT
    while not _exited(popen) and time.monotonic() < deadline:
        time.sleep(0.05)
    _reap(popen)


def _ran_out_of_memory(stderr_path: str) -> bool:
    try:
        with open(stderr_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 65536))
            tail = fh.read()
    except OSError:
        return False
    return any(marker in tail for marker in OOM_MARKERS)


def daemonize(store: JobStore, job_id: str) -> None:
    """Fork; the parent records the child's pid in the job record and exits, the child carries on."""
    child = os.fork()
    if child:
        ticks = process_start_ticks(child)

        def change(record: Record) -> None:
            record["supervisor"] = {"pid": child, "start_ticks": ticks}

        store.update(job_id, change)
        os._exit(0)


def main(argv: list[str] | None = None) -> int:
    state_dir, job_id = argv if argv is not None else sys.argv[1:]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    store = JobStore(state_dir)
    daemonize(store, job_id)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    supervisor = Supervisor(store, job_id)

    def on_term(_signum: int, _frame: object) -> None:
        supervisor.terminate = True

    signal.signal(signal.SIGTERM, on_term)
    try:
        supervisor.run()
    except Exception:
        log.exception("supervisor of job %s failed", job_id)

        def lost(record: Record) -> None:
            for task in record["tasks"].values():
                if not SlurmState(task["state"]).is_terminal:
                    task.update(state="NODE_FAIL", raw_state="NODE_FAIL", end=now_text())

        store.update(job_id, lost)
        return 1
    return 0
