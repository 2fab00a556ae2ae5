"""A private one-node Slurm cluster and a loopback sshd for the cluster tests.

Everything lives in one temporary folder and listens on free, non-standard loopback ports:

- munged with a key generated into the folder and its own socket;
- slurmdbd with its accounting database on the local MariaDB (a unique database, dropped on stop);
- slurmctld and slurmd with a generated slurm.conf (this host as the only node, with its real CPU count
  and memory; no cgroups: proctrack/linuxproc, jobacct_gather/linux with OverMemoryKill);
- sshd with a throwaway host key and user key, a known_hosts file, and SLURM_CONF set for sessions.

Daemons run as root in the foreground as our children and are stopped (and the database dropped) in
`stop()`. A component that is not installed or cannot start raises `Unavailable`, whose message names it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.databases import DB
from tests.support.ports import free_port

SBIN = Path("/usr/sbin")


class Unavailable(RuntimeError):
    """A component cannot be provisioned; the message names it (used as a pytest skip reason)."""


def _require(path: Path, component: str) -> None:
    if not path.exists():
        raise Unavailable(f"{component} not installed ({path} missing; run scripts/provision-slurm.sh as root)")


def _wait_for(check, timeout: float, what: str, procs: list[Daemon]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.popen.poll() is not None:
                raise Unavailable(f"{proc.name} exited during start-up:\n{proc.log_tail()}")
        if check():
            return
        time.sleep(0.2)
    tails = "\n".join(f"--- {p.name}:\n{p.log_tail()}" for p in procs)
    raise Unavailable(f"{what} not ready within {timeout:.0f} s\n{tails}")


@dataclass
class Daemon:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        try:  # whatever the daemon started in its own session (it was started with start_new_session)
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def spawn_daemon(name: str, args: list[str], log_path: Path, env: dict[str, str] | None = None) -> Daemon:
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(  # noqa: S603 - fixed argv
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    return Daemon(name, popen, log_path)


def _node_line() -> tuple[str, int, int]:
    """(node name, CPUs, memory MB to offer) for this host, as slurmd sees it."""
    out = subprocess.run([str(SBIN / "slurmd"), "-C"], capture_output=True, text=True, timeout=30).stdout  # noqa: S603
    fields = dict(part.split("=", 1) for part in out.split() if "=" in part)
    cpus = int(fields.get("CPUs", os.cpu_count() or 1))
    memory = int(fields.get("RealMemory", "1024"))
    return socket.gethostname().split(".")[0], cpus, max(256, int(memory * 0.9))


@dataclass
class SlurmCluster:
    """One running cluster; `env` holds SLURM_CONF for client commands."""

    root: Path
    cluster_name: str
    database: str
    node: str
    cpus: int
    conf: Path
    daemons: list[Daemon] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), capture_output=True, text=True, env=self.env, timeout=timeout)  # noqa: S603

    def stop(self) -> None:
        if any(d.name == "slurmctld" and d.popen.poll() is None for d in self.daemons):
            self.run("scancel", "--quiet", "--user", str(os.getuid()), timeout=20)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                queue = self.run("squeue", "--noheader", "--format=%i", timeout=10)
                if queue.returncode != 0 or not queue.stdout.strip():
                    break
                time.sleep(0.5)
        for daemon in reversed(self.daemons):
            daemon.stop()
        self.daemons.clear()
        _drop_database(self.database)

    def logs(self) -> str:
        return "\n".join(f"--- {d.name}:\n{d.log_tail()}" for d in self.daemons)


def _drop_database(name: str) -> None:
    import pymysql

    try:
        conn = pymysql.connect(autocommit=True, **DB)  # type: ignore[arg-type]
    except pymysql.MySQLError:
        return
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


def _check_mariadb() -> None:
    import pymysql

    try:
        pymysql.connect(connect_timeout=5, **DB).close()  # type: ignore[arg-type]
    except pymysql.MySQLError as exc:
        raise Unavailable(f"MariaDB for slurmdbd not reachable at {DB['host']}:{DB['port']}: {exc}") from exc


def start_slurm(root: Path, startup_timeout: float = 45.0) -> SlurmCluster:
    """Start munged, slurmdbd, slurmctld and slurmd under `root`; return when `sinfo` shows the node idle."""
    for daemon, component in (
        ("munged", "munge"),
        ("slurmdbd", "slurmdbd"),
        ("slurmctld", "slurmctld"),
        ("slurmd", "slurmd"),
    ):
        _require(SBIN / daemon, component)
    if shutil.which("sbatch") is None:
        raise Unavailable("slurm-client (sbatch) not installed; run scripts/provision-slurm.sh as root")
    if os.geteuid() != 0:
        raise Unavailable("slurmd needs root to run jobs (tests are not running as root)")
    _check_mariadb()

    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    for sub in ("munge", "state", "spool", "log"):
        (root / sub).mkdir(exist_ok=True)
    os.chmod(root / "munge", 0o700)
    Path("/run/munge").mkdir(parents=True, exist_ok=True)  # munged's default run dir must exist

    suffix = uuid.uuid4().hex[:8]
    name = f"lstest{suffix}"
    node, cpus, memory = _node_line()
    ctld_port, slurmd_port, dbd_port = free_port(), free_port(), free_port()
    sock = root / "munge" / "munge.socket"
    log = root / "log"
    cluster = SlurmCluster(root, name, f"lstest_slurm_{suffix}", node, cpus, root / "slurm.conf")

    subprocess.run(  # noqa: S603
        [str(SBIN / "mungekey"), "--create", "--keyfile", str(root / "munge" / "munge.key")],
        check=True,
        capture_output=True,
        timeout=30,
    )
    munged = spawn_daemon(
        "munged",
        [
            str(SBIN / "munged"),
            "--foreground",
            "--force",
            f"--socket={sock}",
            f"--key-file={root / 'munge' / 'munge.key'}",
            f"--pid-file={root / 'munge' / 'munged.pid'}",
            f"--seed-file={root / 'munge' / 'munged.seed'}",
            f"--log-file={log / 'munged.log'}",
        ],
        log / "munged.out",
    )
    cluster.daemons.append(munged)
    try:
        _wait_for(sock.exists, 10, "munged socket", cluster.daemons)
        _write_configs(cluster, sock, ctld_port, slurmd_port, dbd_port, memory)
        env = cluster.env
        cluster.daemons.append(
            spawn_daemon(
                "slurmdbd",
                [str(SBIN / "slurmdbd"), "-D", "-vv"],
                log / "slurmdbd.out",
                {**env, "SLURM_CONF": str(cluster.conf)},
            )
        )
        _wait_for(lambda: _port_open(dbd_port), startup_timeout, "slurmdbd", cluster.daemons)
        cluster.daemons.append(
            spawn_daemon(
                "slurmctld", [str(SBIN / "slurmctld"), "-D", "-i", "-f", str(cluster.conf)], log / "slurmctld.out", env
            )
        )
        _wait_for(lambda: _port_open(ctld_port), startup_timeout, "slurmctld", cluster.daemons)
        cluster.daemons.append(
            spawn_daemon(
                "slurmd", [str(SBIN / "slurmd"), "-D", "-N", node, "-f", str(cluster.conf)], log / "slurmd.out", env
            )
        )
        _wait_for(lambda: _node_idle(cluster), startup_timeout, "slurm node (sinfo idle)", cluster.daemons)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _node_idle(cluster: SlurmCluster) -> bool:
    result = cluster.run("sinfo", "--noheader", "--Node", "--format=%N %t", timeout=10)
    return result.returncode == 0 and any(line.split()[1:] == ["idle"] for line in result.stdout.splitlines())


def _write_configs(cluster: SlurmCluster, sock: Path, ctld_port: int, slurmd_port: int, dbd_port: int, memory: int):
    root, log = cluster.root, cluster.root / "log"
    auth = f"AuthType=auth/munge\nAuthInfo=socket={sock}\n"
    dbd_conf = root / "slurmdbd.conf"
    dbd_conf.write_text(
        auth
        + f"DbdHost=localhost\nDbdAddr=127.0.0.1\nDbdPort={dbd_port}\nSlurmUser=root\n"
        + f"PidFile={root / 'slurmdbd.pid'}\nLogFile={log / 'slurmdbd.log'}\n"
        + "StorageType=accounting_storage/mysql\n"
        + f"StorageHost={DB['host']}\nStoragePort={DB['port']}\nStorageUser={DB['user']}\n"
        + (f"StoragePass={DB['password']}\n" if DB["password"] else "")
        + f"StorageLoc={cluster.database}\n"
    )
    os.chmod(dbd_conf, 0o600)
    cluster.conf.write_text(
        auth
        + f"""ClusterName={cluster.cluster_name}
SlurmctldHost={cluster.node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
CredType=cred/munge
StateSaveLocation={root / "state"}
SlurmdSpoolDir={root / "spool"}
SlurmctldPidFile={root / "slurmctld.pid"}
SlurmdPidFile={root / "slurmd.pid"}
SlurmctldLogFile={log / "slurmctld.log"}
SlurmdLogFile={log / "slurmd.log"}
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={dbd_port}
AccountingStoragePass=socket={sock}
JobCompType=jobcomp/none
MessageTimeout=5
KillWait=2
OverTimeLimit=0
InactiveLimit=0
MinJobAge=300
ReturnToService=2
SlurmdTimeout=60
NodeName={cluster.node} NodeAddr=127.0.0.1 CPUs={cluster.cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes={cluster.node} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
"""
    )
