# One image for the lightserv web app (gunicorn), the Celery worker and Celery beat (README §7).
#
#   docker build -f flaskcelery.Dockerfile \
#     --build-arg APP_UID=$(id -u lightserv) --build-arg APP_GID=$(getent group lightsheet-data | cut -d: -f3) \
#     -t lightserv-flaskcelery:<version> .
#
# The process runs as a non-root user whose UID/GID are build arguments: APP_GID is the GID of the
# facility data group (DATA_GROUP), so folders and files the worker writes on shared storage belong to
# that group (docs/deployment.md). No secret is part of the image: settings, passwords, tokens and the
# cluster SSH key come from the environment and mounted secrets at run time.

# Pinned base image (pitfall 126); pin by digest in production, e.g.
#   --build-arg BASE_IMAGE=python:3.11.11-slim-bookworm@sha256:<digest from `docker pull`>
ARG BASE_IMAGE=python:3.11.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG APP_UID=1000
ARG APP_GID=1000
ARG APP_USER=lightserv

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    PORT=5000 \
    WEB_WORKERS=4

# openssh-client: `ssh-keygen -F` checks of the known-hosts file; paramiko does the SSH itself. (The register
# stage runs elastix through itk-elastix from requirements.txt.)
# mariadb-client: mariadb-dump and mariadb for `flask backup` and `flask restore` (docs/backup.md).
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-client mariadb-client \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid "${APP_GID}" "${APP_USER}" \
    && useradd --uid "${APP_UID}" --gid "${APP_GID}" --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin "${APP_USER}"

WORKDIR /app

# Every Python package pinned, transitive ones included (requirements.txt), in a virtual environment: the
# same on the official python image and on a plain Debian base (PEP 668)
COPY requirements.txt ./
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-compile -r requirements.txt

COPY run.py pyproject.toml ./
COPY lightserv ./lightserv
COPY schemas ./schemas
COPY lib ./lib
COPY scripts ./scripts

# var/ holds the beat schedule and, in DEV, local data and mail; it is a volume in the compose files
RUN mkdir -p /app/var && chown "${APP_UID}:${APP_GID}" /app/var && chmod 2770 /app/var

USER ${APP_UID}:${APP_GID}
EXPOSE 5000

HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "scripts/healthcheck.py", "web"]

# Production web server: gunicorn with the project's config (lightserv/gunicorn.conf.py: WEB_WORKERS threaded
# workers, each running one request at a time on its one DataJoint connection, client timeouts), no reload,
# no debug (pitfall 123). nginx buffers requests in front of it (docker-compose-prod.yml). The worker and
# beat services override the command.
CMD ["sh", "-c", "exec gunicorn --config lightserv/gunicorn.conf.py --bind 0.0.0.0:${PORT}"]
