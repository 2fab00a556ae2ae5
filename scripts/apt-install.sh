#!/usr/bin/env bash
# Install Debian packages when we may (root with apt-get), refreshing the package lists at most twice a day.
# Usage: bash scripts/apt-install.sh <what they are for> <package>...   Exits 1 when it cannot install.
set -euo pipefail
purpose=$1
shift
[ $# -gt 0 ] || exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "provision: installing $* from Debian ($purpose)"
  export DEBIAN_FRONTEND=noninteractive
  stamp=/var/lib/apt/periodic/lightserv-updated
  if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +720 2>/dev/null)" ]; then
    apt-get update -qq && mkdir -p "$(dirname "$stamp")" && touch "$stamp"
  fi
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
else
  echo "provision: missing $* and cannot install (not root or no apt-get); the tests needing them ($purpose) will be skipped"
  exit 1
fi
