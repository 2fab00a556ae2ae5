"""Fault: the cluster's SSH login node unreachable while Slurm-over-SSH is in use (issue 11).

A run is submitted over SSH to the real one-node Slurm (tests/support: private slurmctld/slurmd and sshd). The
sshd is then stopped (with the connections it serves), so polls cannot reach the cluster: the run keeps its
state (never failed or lost on missing information), its page and /healthz say the cluster cannot be reached,
and when sshd is back on the same address the next poll brings the run up to date, each change written once.
"""

from __future__ import annotations

import os
import time

import psutil
import pytest

from lightserv.runs.model import StageDef
from tests.factories import new_request, submit
from tests.slow.conftest import wait_for
from tests.support.slurm import Unavailable, spawn_daemon
from tests.support.sshd import SSHD, SshServer


def stop_sshd(server: SshServer) -> None:
    """Stop sshd and the per-connection sshd processes it forked (they outlive their parent otherwise)."""
    assert server.daemon is not None
    children = psutil.Process(server.daemon.popen.pid).children(recursive=True)
    server.stop()
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass


def start_sshd_again(server: SshServer) -> None:
    """The same sshd (configuration, host key, port) as tests/support/sshd.py started it."""
    import socket

    server.daemon = spawn_daemon(
        "sshd", [str(SSHD), "-D", "-e", "-f", str(server.root / "sshd_config")], server.root / "sshd.log"
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", server.port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"sshd did not listen again on {server.port}:\n{server.daemon.log_tail()}")


@pytest.fixture
def over_ssh(app, settings, monkeypatch, ssh_server, make_user, login_as):
    if isinstance(ssh_server, Unavailable):
        pytest.skip(str(ssh_server).splitlines()[0])
    values = dict(cluster_backend="slurm", slurm_transport="ssh", slurm_ssh_host="127.0.0.1",
                  slurm_ssh_port=ssh_server.port, slurm_ssh_user=ssh_server.user,
                  slurm_ssh_key_path=str(ssh_server.user_key), slurm_known_hosts_path=str(ssh_server.known_hosts),
                  slurm_lost_job_minutes=1)  # fmt: skip
    for key, value in values.items():
        monkeypatch.setattr(settings, key, value)
    os.chmod(settings.data_root, 0o755)  # Slurm runs the jobs as the submitting user
    make_user("ana")
    make_user("pat", roles=["processing_staff"], email="pat@core.example")
    submit(app, new_request("ana", "brains"))
    login_as("processing", "paula")
    yield ssh_server
    if ssh_server.daemon is None:  # never leave the shared sshd stopped
        start_sshd_again(ssh_server)


def test_an_unreachable_login_node_leaves_runs_as_they_are_says_so_and_catches_up(app, client, over_ssh):
    from lightserv.db import get_schemas
    from lightserv.runs import engine, submission
    from lightserv.runs.backend import get_backend
    from lightserv.runs.poller import poll

    target = dict(username="ana", request_name="brains", sample_name="s1", imaging_request_number=1,
                  image_resolution="1.3x")  # fmt: skip
    with app.test_request_context():
        run_id = engine.create_run("lavision_pipeline", target, [StageDef("work", "tests.runs.stage_script")],
                                   {"run_id": None, "output_dir": None, "sleep": 6}, created_by="pat",
                                   output_dir="out/ssh")  # fmt: skip
        (job_id,) = submission.submit_run(run_id, get_backend())
        assert poll(get_backend()).error == ""
    assert client.get("/healthz").get_json()["cluster"] == "ok"

    def state() -> tuple[str, str]:
        with app.app_context():
            run, jobs = engine.get_run(run_id)
        return run["status"], jobs[0]["state"]

    before = state()
    assert before[0] in ("queued", "running")
    stop_sshd(over_ssh)
    try:
        with app.test_request_context():
            result = poll(get_backend())
        assert result.error.startswith(f"cannot connect to 127.0.0.1:{over_ssh.port}"), result
        time.sleep(10)  # the job ends on the cluster meanwhile; polls still cannot see it
        with app.test_request_context():
            assert poll(get_backend()).error
        assert state() == before  # not failed, not "lost": nothing is decided on missing information

        health = client.get("/healthz")
        cluster = health.get_json()["cluster"]
        assert health.status_code == 503 and cluster.startswith("error: the cluster cannot be reached since")
        assert f"127.0.0.1:{over_ssh.port}" in cluster and "runs keep their last known state" in cluster
        page = client.get(f"/processing/run/{run_id}").get_data(as_text=True)
        assert 'data-testid="cluster-unreachable"' in page and "The cluster cannot be reached since" in page
    finally:
        start_sshd_again(over_ssh)

    def caught_up() -> bool:
        with app.test_request_context():
            poll(get_backend())
        return state() == ("succeeded", "COMPLETED")

    wait_for(caught_up, 60, "the run to catch up once sshd is back", lambda: str(state()))
    assert client.get("/healthz").get_json()["cluster"] == "ok"
    assert "cluster-unreachable" not in client.get(f"/processing/run/{run_id}").get_data(as_text=True)
    with app.app_context():
        from lightserv.extensions import db
        from lightserv.models import EventLog

        history = [h["state"] for h in (get_schemas().jobs.SlurmJobState & {"run_id": run_id}).to_dicts(
            order_by=["observed_at"])]  # fmt: skip
        finished = db.session.scalars(db.select(EventLog).where(EventLog.action == "run.finished")).all()
    assert history[0] == "SUBMITTED" and history[-1] == "COMPLETED" and len(history) == len(set(history))
    assert "UNKNOWN" not in history and len(finished) == 1
    assert job_id
