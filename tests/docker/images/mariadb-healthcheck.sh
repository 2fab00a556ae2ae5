#!/usr/bin/env bash
# The subset of the official image's healthcheck.sh the compose file uses: the server answers a query.
exec mariadb -uroot -h127.0.0.1 -e "SELECT 1" >/dev/null
