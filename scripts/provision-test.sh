#!/usr/bin/env bash
# Install the real components the test suite talks to, when they are missing and we may install them
# (root with apt-get). Each later issue adds its components here (Slurm, sshd, proxy, docker).
set -euo pipefail

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v elastix >/dev/null 2>&1 || need_apt+=(elastix)  # the register stage (lib/pipeline/registration)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)  # configurable-http-proxy (viewer), installed below

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "provision: installing ${need_apt[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    stamp=/var/lib/apt/periodic/lightserv-updated
    if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +720 2>/dev/null)" ]; then
      apt-get update -qq && mkdir -p "$(dirname "$stamp")" && touch "$stamp"
    fi
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "provision: missing ${need_apt[*]} and cannot install (not root or no apt-get); those tests will be skipped"
  fi
fi

# configurable-http-proxy for the viewer tests, into var/node/ (pinned in lib/proxy/node/).
bash "$(dirname "$0")/install-proxy.sh"

# A real one-node Slurm (slurmctld, slurmd, slurmdbd, munge) and sshd for the cluster tests.
bash "$(dirname "$0")/provision-slurm.sh"
