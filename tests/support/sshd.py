"""A throwaway OpenSSH server on a loopback port, for testing `SshTransport` against the real Slurm.

Host key and user key are generated into a temporary folder, `known_hosts` is written for
`[127.0.0.1]:<port>`, and sessions get `SLURM_CONF` (sshd `SetEnv`) so Slurm commands find the test
cluster. The server runs in the foreground as our child and is stopped by `stop()`.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import free_port
from tests.support.slurm import Daemon, Unavailable, spawn_daemon

SSHD = Path("/usr/sbin/sshd")


@dataclass
class SshServer:
    root: Path
    port: int
    user: str
    user_key: Path
    known_hosts: Path
    host_key: Path
    daemon: Daemon | None = None

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None


def _keygen(path: Path) -> None:
    subprocess.run(  # noqa: S603
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lightserv-test", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )


def write_known_hosts(path: Path, port: int, public_key_file: Path) -> None:
    key_type, key_data = public_key_file.read_text().split()[:2]
    path.write_text(f"[127.0.0.1]:{port} {key_type} {key_data}\n")


def start_sshd(root: Path, environment: dict[str, str], timeout: float = 15.0) -> SshServer:
    if not SSHD.exists():
        raise Unavailable("sshd (openssh-server) not installed; run scripts/provision-slurm.sh as root")
    if shutil.which("ssh-keygen") is None:
        raise Unavailable("ssh-keygen (openssh-client) not installed")
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)  # privilege separation dir
    host_key, user_key = root / "ssh_host_ed25519_key", root / "id_ed25519"
    for key in (host_key, user_key):
        if not key.exists():
            _keygen(key)
    authorized = root / "authorized_keys"
    authorized.write_text((root / "id_ed25519.pub").read_text())
    os.chmod(authorized, 0o600)
    port = free_port()
    set_env = " ".join(f"{k}={v}" for k, v in environment.items())
    config = root / "sshd_config"
    config.write_text(
        f"""Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {root / "sshd.pid"}
AuthorizedKeysFile {authorized}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
X11Forwarding no
LogLevel VERBOSE
{"SetEnv " + set_env if set_env else ""}
Subsystem sftp internal-sftp
"""
    )
    check = subprocess.run([str(SSHD), "-t", "-f", str(config)], capture_output=True, text=True, timeout=30)  # noqa: S603
    if check.returncode != 0:
        raise Unavailable(f"sshd rejected its test configuration: {check.stderr.strip()}")
    known_hosts = root / "known_hosts"
    write_known_hosts(known_hosts, port, root / "ssh_host_ed25519_key.pub")
    daemon = spawn_daemon("sshd", [str(SSHD), "-D", "-e", "-f", str(config)], root / "sshd.log")
    server = SshServer(root, port, getpass.getuser(), user_key, known_hosts, host_key, daemon)
    deadline = time.monotonic() + timeout
    import socket

    while time.monotonic() < deadline:
        if daemon.popen.poll() is not None:
            raise Unavailable(f"sshd exited during start-up:\n{daemon.log_tail()}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.1)
    server.stop()
    raise Unavailable(f"sshd did not listen on 127.0.0.1:{port} within {timeout:.0f} s")
