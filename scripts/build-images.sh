#!/usr/bin/env bash
# Build every project image from its Dockerfile: the app (web, worker, beat), the viewer-launcher, the proxy, nginx
# and the three viewer servers the launcher starts. Usage:
#   BASE_IMAGE=python:3.11.11-slim-bookworm TAG=dev bash scripts/build-images.sh
# (the Docker tier uses BASE_IMAGE=lightserv-base:bookworm, made by scripts/provision-docker.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_IMAGE=${BASE_IMAGE:-python:3.11.11-slim-bookworm}
TAG=${TAG:-dev}
build() {  # name dockerfile context [extra build args]
  local name=$1 file=$2 context=$3
  shift 3
  echo "building lightserv-$name:$TAG"
  DOCKER_BUILDKIT=0 docker build -q -f "$file" --build-arg "BASE_IMAGE=$BASE_IMAGE" "$@" -t "lightserv-$name:$TAG" "$context" >/dev/null
}
build flaskcelery flaskcelery.Dockerfile . --build-arg "APP_UID=${APP_UID:-1000}" --build-arg "APP_GID=${APP_GID:-1000}"
build viewer-launcher viewer-launcher/Dockerfile .
build proxy lib/proxy/Dockerfile .
build front nginx/Dockerfile .
build cloudvolume cloudvolume/Dockerfile .
build neuroglancer neuroglancer/Dockerfile .
build neuroglancer-registration neuroglancer-registration/Dockerfile .
