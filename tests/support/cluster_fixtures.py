"""Session fixtures for everything that talks to a cluster: a real one-node Slurm, a loopback sshd, and one
back end of each kind (`backends`), or the reason it is unavailable (tests skip with it). Loaded for the
whole suite from tests/conftest.py, so the cluster tests and the engine tests share one Slurm.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lib.cluster import ClusterBackend, JobStatus, LocalExecutor, LocalTransport, SlurmBackend, SshConfig, SshTransport
from tests.support.slurm import SlurmCluster, Unavailable, start_slurm
from tests.support.sshd import SshServer, start_sshd

BACKENDS = ["local", "slurm-local", "slurm-ssh"]


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster | Unavailable]:
    """The running cluster, or the reason it could not start (tests skip with it)."""
    try:
        cluster = start_slurm(tmp_path_factory.mktemp("slurm"))
    except Unavailable as exc:
        yield exc
        return
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def ssh_server(
    tmp_path_factory: pytest.TempPathFactory, slurm_cluster: SlurmCluster | Unavailable
) -> Iterator[SshServer | Unavailable]:
    if isinstance(slurm_cluster, Unavailable):
        yield slurm_cluster
        return
    try:
        server = start_sshd(tmp_path_factory.mktemp("sshd"), {"SLURM_CONF": str(slurm_cluster.conf)})
    except Unavailable as exc:
        yield exc
        return
    yield server
    server.stop()


def ssh_config(server: SshServer, **overrides: object) -> SshConfig:
    values: dict[str, object] = dict(
        host="127.0.0.1",
        port=server.port,
        user=server.user,
        key_path=str(server.user_key),
        known_hosts_path=str(server.known_hosts),
        connect_timeout=5.0,
        command_timeout=30.0,
        backoff_seconds=0.1,
    )
    values.update(overrides)
    return SshConfig(**values)  # type: ignore[arg-type]


@dataclass
class Backend:
    """A back end under test and how to count its scheduler calls."""

    kind: str
    impl: ClusterBackend

    @property
    def calls(self) -> int:
        if isinstance(self.impl, SlurmBackend):
            return self.impl.transport.calls
        assert isinstance(self.impl, LocalExecutor)
        return self.impl.calls

    def jobs_named(self, name: str) -> set[str]:
        """Every job id the cluster holds under `name` (any user, any state), found without `find`:
        squeue and sacct for Slurm, the job records on disk for the local executor."""
        return jobs_named(self.impl, name)

    def wait(
        self, job_ids: list[str], arrays: dict[str, int] | None = None, timeout: float = 90.0, until: str = "terminal"
    ) -> dict[str, JobStatus]:
        """Poll like the poller does (with the array sizes) until every job is terminal (or, with
        until="running", has started)."""
        deadline = time.monotonic() + timeout
        statuses: dict[str, JobStatus] = {}
        while time.monotonic() < deadline:
            statuses = self.impl.query(job_ids, arrays)
            if len(statuses) == len(set(job_ids)):
                if until == "terminal" and all(s.is_terminal for s in statuses.values()):
                    return statuses
                if until == "running" and all(
                    s.state.state_class in ("running", "succeeded", "failed") for s in statuses.values()
                ):
                    return statuses
            time.sleep(0.5)
        raise AssertionError(f"jobs did not reach {until} within {timeout:.0f} s: {statuses}")


def jobs_named(impl: ClusterBackend, name: str) -> set[str]:
    """See `Backend.jobs_named`."""
    if isinstance(impl, LocalExecutor):
        records = (json.loads(path.read_text()) for path in impl.store.jobs.glob("*.json"))
        return {r["job_id"] for r in records if r["spec"]["name"] == name}
    assert isinstance(impl, SlurmBackend)
    queue = impl.transport.run(["squeue", "--noheader", "--states=all", f"--name={name}", "--format=%F"])
    accounting = impl.transport.run(
        ["sacct", "--noheader", "--parsable2", "--allocations", "--allusers", f"--name={name}",
         "--starttime=now-2days", "--format=JobID"]
    )  # fmt: skip
    assert queue.returncode == 0 and accounting.returncode == 0, queue.stderr + accounting.stderr
    return set(queue.stdout.split()) | {line.split("_")[0] for line in accounting.stdout.split()}


@pytest.fixture(scope="session")
def backends(
    tmp_path_factory: pytest.TempPathFactory,
    slurm_cluster: SlurmCluster | Unavailable,
    ssh_server: SshServer | Unavailable,
) -> Iterator[dict[str, Backend | Unavailable]]:
    """One back end of each kind for the session (or the reason it is unavailable)."""
    made: dict[str, Backend | Unavailable] = {
        "local": Backend("local", LocalExecutor(tmp_path_factory.mktemp("local-executor")))
    }
    if isinstance(slurm_cluster, Unavailable):
        made["slurm-local"] = made["slurm-ssh"] = slurm_cluster
    else:
        made["slurm-local"] = Backend("slurm-local", SlurmBackend(LocalTransport(env=slurm_cluster.env)))
        if isinstance(ssh_server, Unavailable):
            made["slurm-ssh"] = ssh_server
        else:
            made["slurm-ssh"] = Backend("slurm-ssh", SlurmBackend(SshTransport(ssh_config(ssh_server))))
    yield made
    for backend in made.values():
        if isinstance(backend, Backend):
            backend.impl.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, backends: dict[str, Backend | Unavailable]) -> Backend:
    made = backends[request.param]
    if isinstance(made, Unavailable):
        pytest.skip(str(made).splitlines()[0])
    return made
