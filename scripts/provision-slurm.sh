#!/usr/bin/env bash
# Install what the cluster tests need: a one-node Slurm (slurmctld, slurmd, slurmdbd,
# the client commands), munge, and openssh-server for the SSH transport. Idempotent: installs only what is
# missing, and only when running as root with apt-get. Starts no daemon and enables no service: the test
# fixture (tests/support/slurm.py) starts its own private daemons on non-standard ports.
set -euo pipefail

need_apt=()
command -v slurmctld >/dev/null 2>&1 || [ -x /usr/sbin/slurmctld ] || need_apt+=(slurmctld)
command -v slurmd >/dev/null 2>&1 || [ -x /usr/sbin/slurmd ] || need_apt+=(slurmd)
command -v slurmdbd >/dev/null 2>&1 || [ -x /usr/sbin/slurmdbd ] || need_apt+=(slurmdbd)
command -v sbatch >/dev/null 2>&1 || need_apt+=(slurm-client)
command -v munged >/dev/null 2>&1 || [ -x /usr/sbin/munged ] || need_apt+=(munge)
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)

if [ ${#need_apt[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "provision-slurm: missing ${need_apt[*]} and cannot install (not root or no apt-get);" \
    "the Slurm and SSH cluster tests will be skipped"
  exit 0
fi

echo "provision-slurm: installing ${need_apt[*]} from Debian"
export DEBIAN_FRONTEND=noninteractive
stamp=/var/lib/apt/periodic/lightserv-updated
if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +720 2>/dev/null)" ]; then
  apt-get update -qq && mkdir -p "$(dirname "$stamp")" && touch "$stamp"
fi

# Package scripts must not start system-wide daemons on the default ports: deny service starts for the
# duration of the install unless a policy already exists (Docker images ship one that does the same).
own_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  own_policy=1
fi
trap '[ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT

apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
echo "provision-slurm: installed ${need_apt[*]}"
