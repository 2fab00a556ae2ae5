"""Cluster errors. Every class says which part failed, so a submission failure can be reported precisely: the
connection, the login, the host key, the scheduler's refusal, or
output we could not read. `str(error)` is one plain sentence; `first_line` suits "Could not submit: …".
"""

from __future__ import annotations


class ClusterError(Exception):
    """Base class of everything `lib.cluster` raises."""

    @property
    def first_line(self) -> str:
        text = str(self).strip()
        return text.splitlines()[0] if text else type(self).__name__


class TransportError(ClusterError):
    """The command could not be run on the cluster host at all."""


class ConnectionFailed(TransportError):
    """The host could not be reached or the connection broke (after the retries)."""


class AuthenticationFailed(TransportError):
    """The host refused our key, or the key could not be read."""


class HostKeyRejected(TransportError):
    """The host's key is unknown or differs from the one in the known_hosts file."""


class CommandTimedOut(TransportError):
    """A command did not finish within the command timeout."""


class SchedulerError(ClusterError):
    """The scheduler ran but did not do what we asked."""


class SubmissionRejected(SchedulerError):
    """sbatch (or the local executor) refused the job: bad option, unknown dependency, invalid account."""


class CommandFailed(SchedulerError):
    """A scheduler command (sacct, squeue, scancel) exited non-zero."""

    def __init__(self, command: str, returncode: int, stderr: str):
        self.command = command
        self.returncode = returncode
        self.stderr = stderr
        detail = stderr.strip().splitlines()[0] if stderr.strip() else "no error output"
        super().__init__(f"{command} exited with status {returncode}: {detail}")


class UnparsableOutput(SchedulerError):
    """The scheduler printed something we cannot read (a job id, a state, a line of accounting)."""

    def __init__(self, what: str, output: str):
        self.output = output
        shown = output.strip()[:200] or "(empty)"
        super().__init__(f"could not parse {what}: {shown!r}")
