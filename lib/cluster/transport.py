"""Running scheduler commands: on this host (`LocalTransport`) or on a login node over SSH (`SshTransport`).

A transport runs an argv (never a shell string built from user input: over SSH the argv is joined with
`shlex.quote`) and writes small files (the batch script). `calls` counts commands run, so tests can
check that one poll is one scheduler call.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import paramiko

from .errors import AuthenticationFailed, CommandTimedOut, ConnectionFailed, HostKeyRejected, TransportError

T = TypeVar("T")


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class Transport(Protocol):
    calls: int

    def run(self, argv: Sequence[str], timeout: float | None = None) -> CommandResult:
        """Run `argv` to completion; raise TransportError if it could not be run at all."""
        ...

    def write_file(self, path: str, text: str, mode: int = 0o644) -> None:
        """Create or replace a file (parent folders are created)."""
        ...

    def close(self) -> None: ...


class LocalTransport:
    """Commands as subprocesses of this process (Slurm on the worker's own host, SLURM_TRANSPORT=local)."""

    def __init__(self, env: dict[str, str] | None = None, command_timeout: float = 60.0):
        self.env = env
        self.command_timeout = command_timeout
        self.calls = 0

    def run(self, argv: Sequence[str], timeout: float | None = None) -> CommandResult:
        self.calls += 1
        try:
            proc = subprocess.run(  # noqa: S603 - argv list, no shell
                list(argv),
                capture_output=True,
                text=True,
                env=self.env,
                timeout=timeout or self.command_timeout,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            return CommandResult(tuple(argv), 127, "", f"{argv[0]}: command not found")
        except subprocess.TimeoutExpired as exc:
            raise CommandTimedOut(f"{argv[0]} did not finish within {exc.timeout:.0f} s") from exc
        except OSError as exc:
            raise TransportError(f"could not run {argv[0]}: {exc}") from exc
        return CommandResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)

    def write_file(self, path: str, text: str, mode: int = 0o644) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class SshConfig:
    """How to reach the login node (settings SLURM_SSH_HOST, SLURM_SSH_USER, SLURM_SSH_KEY_PATH,
    SLURM_KNOWN_HOSTS_PATH). The host key must be in `known_hosts_path`; unknown hosts are rejected."""

    host: str
    user: str
    key_path: str
    known_hosts_path: str
    port: int = 22
    connect_timeout: float = 10.0
    command_timeout: float = 60.0
    retries: int = 3
    backoff_seconds: float = 1.0


class SshTransport:
    """Commands over one reused paramiko connection, reconnected with exponential backoff when it cannot
    be opened or is found dead. Host keys are verified against the known_hosts file only (RejectPolicy,
    never AutoAddPolicy). Authentication failures and host-key mismatches are not retried."""

    def __init__(self, config: SshConfig, sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self.calls = 0
        self._sleep = sleep
        self._client: paramiko.SSHClient | None = None

    # -- connection --------------------------------------------------------------------------------
    def _connect(self) -> paramiko.SSHClient:
        cfg = self.config
        try:
            key = paramiko.PKey.from_path(cfg.key_path)
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise AuthenticationFailed(f"cannot read SSH key {cfg.key_path}: {exc}") from exc
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(cfg.known_hosts_path)
        except OSError as exc:
            raise HostKeyRejected(f"cannot read known_hosts file {cfg.known_hosts_path}: {exc}") from exc
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        where = f"{cfg.host}:{cfg.port}"
        try:
            client.connect(
                cfg.host,
                port=cfg.port,
                username=cfg.user,
                pkey=key,
                timeout=cfg.connect_timeout,
                banner_timeout=cfg.connect_timeout,
                auth_timeout=cfg.connect_timeout,
                allow_agent=False,
                look_for_keys=False,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyRejected(f"host key of {where} does not match {cfg.known_hosts_path}") from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise AuthenticationFailed(f"authentication as {cfg.user} on {where} failed: {exc}") from exc
        except paramiko.SSHException as exc:
            client.close()
            if "not found in known_hosts" in str(exc):
                raise HostKeyRejected(f"{where} is not in {cfg.known_hosts_path}") from exc
            raise ConnectionFailed(f"SSH to {where} failed: {exc}") from exc
        except (OSError, EOFError) as exc:
            client.close()
            raise ConnectionFailed(f"cannot connect to {where}: {exc}") from exc
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(30)
        return client

    def _with_retries(self, action: Callable[[paramiko.SSHClient], T]) -> T:
        """Connect if needed and run `action`. Connecting, and a cached connection found dead before the
        command started, are retried with exponential backoff; a failure after the command started is
        not (a second sbatch could submit the job twice)."""
        attempts = max(1, self.config.retries)
        delay = self.config.backoff_seconds
        for attempt in range(1, attempts + 1):
            try:
                if self._client is None:
                    self._client = self._connect()
                return action(self._client)
            except (ConnectionFailed, _Dropped) as exc:
                self.close()
                if attempt == attempts:
                    if isinstance(exc, _Dropped):
                        raise ConnectionFailed(f"SSH connection to {self.config.host} failed: {exc}") from exc
                    raise
                self._sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    # -- Transport ---------------------------------------------------------------------------------
    def run(self, argv: Sequence[str], timeout: float | None = None) -> CommandResult:
        self.calls += 1
        command = shlex.join(argv)
        limit = timeout or self.config.command_timeout

        def action(client: paramiko.SSHClient) -> CommandResult:
            try:
                stdin, stdout, stderr = client.exec_command(command, timeout=limit)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise _Dropped(str(exc) or type(exc).__name__) from exc  # the command did not start
            try:
                stdin.close()
                out = stdout.read().decode(errors="replace")
                err = stderr.read().decode(errors="replace")
                code = stdout.channel.recv_exit_status()
            except TimeoutError as exc:
                self.close()
                raise CommandTimedOut(f"{argv[0]} did not finish within {limit:.0f} s on {self.config.host}") from exc
            except (paramiko.SSHException, OSError, EOFError) as exc:
                self.close()
                raise TransportError(f"SSH connection lost while running {argv[0]}: {exc}") from exc
            return CommandResult(tuple(argv), code, out, err)

        return self._with_retries(action)

    def write_file(self, path: str, text: str, mode: int = 0o644) -> None:
        def action(client: paramiko.SSHClient) -> None:
            try:
                sftp = client.open_sftp()
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise _Dropped(str(exc) or type(exc).__name__) from exc
            try:
                _sftp_makedirs(sftp, os.path.dirname(path))
                tmp = f"{path}.tmp{os.getpid()}"
                with sftp.open(tmp, "w") as fh:
                    fh.write(text.encode())
                sftp.chmod(tmp, mode)
                sftp.posix_rename(tmp, path)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise TransportError(f"cannot write {path} on {self.config.host}: {exc}") from exc
            finally:
                sftp.close()

        self._with_retries(action)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


class _Dropped(Exception):
    """The connection failed before the command started (safe to retry on a new connection)."""


def _sftp_makedirs(sftp: paramiko.SFTPClient, folder: str) -> None:
    missing = []
    probe = folder
    while probe and probe != "/":
        try:
            sftp.stat(probe)
            break
        except FileNotFoundError:
            missing.append(probe)
            probe = os.path.dirname(probe)
    for sub in reversed(missing):
        sftp.mkdir(sub)
