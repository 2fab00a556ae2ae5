# Test-only stand-in for the official mariadb image (no registry is reachable in the Docker tier): Debian's
# MariaDB 10.11 with the two behaviours docker-compose-dev.yml relies on — root without a password from
# the stack's network (MARIADB_ALLOW_EMPTY_ROOT_PASSWORD) and `healthcheck.sh --connect --innodb_initialized`.
ARG BASE_IMAGE=lightserv-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends mariadb-server && rm -rf /var/lib/apt/lists/*
COPY mariadb-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
COPY mariadb-healthcheck.sh /usr/local/bin/healthcheck.sh
EXPOSE 3306
ENTRYPOINT ["bash", "/usr/local/bin/docker-entrypoint.sh"]
