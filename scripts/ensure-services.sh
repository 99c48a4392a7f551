#!/usr/bin/env bash
# Start the database and message-broker servers the integration tests use, if they are
# installed and not running (these machines have no systemd). Installs PostgreSQL,
# MariaDB and RabbitMQ from Debian's packages where they are missing. Tests that need a
# server that still cannot run skip with the reason.
set -u

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

need_apt=()
command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need_apt+=(mariadb-server)
command -v rabbitmq-server >/dev/null || need_apt+=(rabbitmq-server)
if [ ${#need_apt[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  echo "ensure-services: installing ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" \
    >/dev/null || echo "ensure-services: apt-get install failed; dependent tests will skip"
fi

if ! up 5432 && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if ! up 3306 && [ -x /usr/sbin/mariadbd ]; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
if ! up 5672 && command -v rabbitmq-server >/dev/null; then
  # A node whose app was stopped (rabbitmqctl stop_app) only needs start_app.
  if command -v rabbitmqctl >/dev/null && rabbitmqctl -q ping >/dev/null 2>&1; then
    rabbitmqctl -q start_app || true
  else
    rabbitmq-server -detached || true
  fi
fi
for _ in $(seq 1 120); do
  up 5432 && up 3306 && up 5672 && break
  sleep 0.5
done
for port in 5432 3306 5672; do
  if up "$port"; then echo "ensure-services: 127.0.0.1:$port up"; else
    echo "ensure-services: 127.0.0.1:$port not reachable"; fi
done
exit 0
