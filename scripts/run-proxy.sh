#!/usr/bin/env bash
# `make run`'s proxy: configurable-http-proxy from var/node on VIEWER_PROXY_PORT (8000) with its API on the next
# port, route prefixes stripped, everything without a viewer route forwarded to the web application. Without
# node or the package it waits quietly (honcho stops everything when one process exits).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=var/node/node_modules/.bin/configurable-http-proxy
port="${VIEWER_PROXY_PORT:-8000}"
if ! command -v node >/dev/null 2>&1 || [ ! -x "$bin" ]; then
  echo "configurable-http-proxy is not installed (scripts/install-proxy.sh); viewers use direct loopback URLs"
  exec sleep infinity
fi
exec "$bin" --ip 127.0.0.1 --port "$port" --api-ip 127.0.0.1 --api-port "$((port + 1))" \
  --no-include-prefix --default-target "${LIGHTSERV_WEB_URL:-http://127.0.0.1:5000}" --log-level warn
