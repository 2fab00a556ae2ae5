#!/usr/bin/env bash
# configurable-http-proxy, pinned with its whole dependency tree in lib/proxy/node/, installed
# into var/node/ (project-local, never global). Does nothing when that exact tree is already installed.
# Without node/npm it says so and exits 0: the viewer tests that need the proxy then skip, naming it.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=var/node
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "provision: node/npm missing; configurable-http-proxy not installed (viewer proxy tests will be skipped)"
  exit 0
fi
mkdir -p "$prefix"
if [ -x "$prefix/node_modules/.bin/configurable-http-proxy" ] && cmp -s lib/proxy/node/package-lock.json "$prefix/package-lock.json"; then
  exit 0
fi
cp lib/proxy/node/package.json lib/proxy/node/package-lock.json "$prefix/"
echo "provision: installing configurable-http-proxy into $prefix"
npm ci --prefix "$prefix" --no-audit --no-fund --loglevel=error >/dev/null
