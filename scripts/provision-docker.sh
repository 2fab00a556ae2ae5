#!/usr/bin/env bash
# The Docker tier's components: Debian's docker.io engine, started when it is not
# running, and the base image every project image is built on. No registry is reachable here, so the base
# image is made locally: a minimal Debian bookworm with Python 3.11 (debootstrap), imported with
# `docker import`. The host's CA bundle goes into it, so pip inside `docker build` trusts what the host
# trusts. Nothing fails here: when no engine can be started, the Docker tests skip and say so.
set -uo pipefail

BASE_IMAGE=${LIGHTSERV_BASE_IMAGE:-lightserv-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOG_DIR="$ROOT/var/log"
mkdir -p "$LOG_DIR"

need_apt=()
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
if [ ${#need_apt[@]} -gt 0 ]; then
  bash "$ROOT/scripts/apt-install.sh" "the Docker tier" "${need_apt[@]}" || true
fi

engine_up() { docker info >/dev/null 2>&1; }

if ! engine_up; then
  if command -v dockerd >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "provision-docker: starting dockerd (log: var/log/dockerd.log)"
    nohup dockerd >"$LOG_DIR/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do engine_up && break; sleep 1; done
  fi
fi
if ! engine_up; then
  echo "provision-docker: no Docker engine could be started; the Docker tier will be skipped"
  tail -5 "$LOG_DIR/dockerd.log" 2>/dev/null || true
  exit 0
fi

if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  echo "provision-docker: base image $BASE_IMAGE present"
  exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
  echo "provision-docker: cannot build $BASE_IMAGE (debootstrap needs root); the Docker tier will be skipped"
  exit 0
fi
work=$(mktemp -d /tmp/lightserv-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "provision-docker: building $BASE_IMAGE with debootstrap from $MIRROR (about a minute)"
if ! debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$work/root" "$MIRROR" >"$LOG_DIR/debootstrap.log" 2>&1; then
  echo "provision-docker: debootstrap failed (see var/log/debootstrap.log); the Docker tier will be skipped"
  exit 0
fi
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$work/root/etc/ssl/certs/ca-certificates.crt"
  # kept when a later `apt-get install` regenerates the bundle
  cp /etc/ssl/certs/ca-certificates.crt "$work/root/usr/local/share/ca-certificates/host-bundle.crt"
fi
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
tar -C "$work/root" -c . | docker import \
  --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
echo "provision-docker: $BASE_IMAGE built"
