#!/usr/bin/env bash
# First start: create the data folder and let root in from the stack's network without a password (DEV only).
set -euo pipefail
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
if [ ! -f /var/lib/mysql/.root-from-network ]; then
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql --auth-root-authentication-method=normal >/dev/null
  mariadbd --user=mysql --skip-networking --socket=/run/mysqld/init.sock &
  for _ in $(seq 1 60); do mariadb-admin --socket=/run/mysqld/init.sock ping >/dev/null 2>&1 && break; sleep 0.5; done
  mariadb --socket=/run/mysqld/init.sock -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); CREATE USER IF NOT EXISTS 'root'@'%'; GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION; FLUSH PRIVILEGES;"
  mariadb-admin --socket=/run/mysqld/init.sock shutdown
  wait
  touch /var/lib/mysql/.root-from-network
fi
exec mariadbd --user=mysql --bind-address=0.0.0.0 --port=3306
