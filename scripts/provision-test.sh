#!/usr/bin/env bash
# Install the real components the test suite talks to, when they are missing and we may install them
# (root with apt-get). Each later issue adds its components here (Slurm, sshd, proxy, docker).
set -euo pipefail

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)  # configurable-http-proxy (viewer), installed below
[ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)  # the production front proxy's config (nginx/lightserv.conf)
command -v mariadb-dump >/dev/null 2>&1 || need_apt+=(mariadb-client)  # flask backup / restore (tests/test_backup.py)

if [ ${#need_apt[@]} -gt 0 ]; then
  bash "$(dirname "$0")/apt-install.sh" "browser, proxy, front proxy tests" "${need_apt[@]}" || true
fi

# configurable-http-proxy for the viewer tests, into var/node/ (pinned in lib/proxy/node/).
bash "$(dirname "$0")/install-proxy.sh"

# A real one-node Slurm (slurmctld, slurmd, slurmdbd, munge) and sshd for the cluster tests.
bash "$(dirname "$0")/provision-slurm.sh"
