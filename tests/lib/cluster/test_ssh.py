"""SshTransport against a real sshd on a loopback port: host keys, authentication, retries, timeouts."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from lib.cluster import (
    AuthenticationFailed,
    CommandTimedOut,
    ConnectionFailed,
    HostKeyRejected,
    SlurmBackend,
    SshTransport,
    SubmissionRejected,
)
from tests.lib.cluster.conftest import ssh_config, stage
from tests.support.slurm import Unavailable
from tests.support.sshd import SshServer, write_known_hosts


@pytest.fixture
def server(ssh_server: SshServer | Unavailable) -> SshServer:
    if isinstance(ssh_server, Unavailable):
        pytest.skip(str(ssh_server).splitlines()[0])
    return ssh_server


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def other_key(tmp_path: Path) -> Path:
    key = tmp_path / "other_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, capture_output=True)
    return key


def test_a_host_with_a_different_key_is_refused(server: SshServer, tmp_path: Path):
    known_hosts = tmp_path / "known_hosts"
    write_known_hosts(known_hosts, server.port, other_key(tmp_path).with_suffix(".pub"))
    before = known_hosts.read_text()
    sleeps = Sleeps()
    transport = SshTransport(ssh_config(server, known_hosts_path=str(known_hosts)), sleep=sleeps)

    with pytest.raises(HostKeyRejected, match="does not match"):
        transport.run(["true"])

    assert known_hosts.read_text() == before  # nothing was added or replaced
    assert sleeps == []  # a wrong host key is not retried


def test_an_unknown_host_is_refused(server: SshServer, tmp_path: Path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    transport = SshTransport(ssh_config(server, known_hosts_path=str(known_hosts)))
    with pytest.raises(HostKeyRejected, match="is not in"):
        transport.run(["true"])
    assert known_hosts.read_text() == ""


def test_a_key_the_server_does_not_accept_fails_authentication_without_retries(server: SshServer, tmp_path: Path):
    sleeps = Sleeps()
    transport = SshTransport(ssh_config(server, key_path=str(other_key(tmp_path))), sleep=sleeps)
    with pytest.raises(AuthenticationFailed):
        transport.run(["true"])
    assert sleeps == []


def test_a_missing_key_file_is_an_authentication_failure(server: SshServer, tmp_path: Path):
    transport = SshTransport(ssh_config(server, key_path=str(tmp_path / "absent")))
    with pytest.raises(AuthenticationFailed, match="cannot read SSH key"):
        transport.run(["true"])


def test_an_unreachable_host_is_retried_with_exponential_backoff(server: SshServer):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    sleeps = Sleeps()
    transport = SshTransport(ssh_config(server, port=closed_port, retries=3, backoff_seconds=0.5), sleep=sleeps)
    with pytest.raises(ConnectionFailed, match="cannot connect"):
        transport.run(["true"])
    assert sleeps == [0.5, 1.0]


def test_submission_failures_over_ssh_are_distinguishable(server: SshServer, tmp_path: Path):
    run_dir = tmp_path
    bad_key = SlurmBackend(SshTransport(ssh_config(server, key_path=str(other_key(tmp_path)))))
    with pytest.raises(AuthenticationFailed):
        bad_key.submit(stage(run_dir, "setup", "true"))
    missing_sbatch = SlurmBackend(SshTransport(ssh_config(server)), sbatch="/nonexistent/sbatch")
    with pytest.raises(SubmissionRejected, match="No such file|not found"):
        missing_sbatch.submit(stage(run_dir, "setup", "true"))


def test_arguments_reach_the_remote_command_literally(server: SshServer, tmp_path: Path):
    transport = SshTransport(ssh_config(server))
    words = ["a b", "it's", "$(touch pwned)", "; touch pwned"]
    result = transport.run(["printf", "<%s>\\n", *words], timeout=20)
    assert result.returncode == 0
    assert result.stdout == "".join(f"<{w}>\n" for w in words)
    assert transport.calls == 1
    transport.close()


def test_files_are_written_over_sftp_with_their_folders(server: SshServer, tmp_path: Path):
    transport = SshTransport(ssh_config(server))
    target = tmp_path / "runs" / "12" / "setup.sbatch"
    transport.write_file(str(target), "#!/bin/bash\ntrue\n", mode=0o750)
    assert target.read_text() == "#!/bin/bash\ntrue\n"
    assert target.stat().st_mode & 0o777 == 0o750
    transport.close()


def test_a_command_that_hangs_times_out(server: SshServer):
    transport = SshTransport(ssh_config(server))
    with pytest.raises(CommandTimedOut):
        transport.run(["sleep", "10"], timeout=1)
    assert transport.run(["true"]).returncode == 0  # the next command opens a fresh connection
    transport.close()
