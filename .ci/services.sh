# Checks the local services the backend tests use (PostgreSQL, Redis, RabbitMQ, NATS with
# JetStream) on their loopback ports and starts any that is down, with the start commands
# of this machine kind; then waits until each answers. A service that cannot be started
# fails CI: the conformance suites run against every backend.
# Also checks the server binaries the fault and TLS tests start privately on other
# loopback ports (tests/tls.rs of each backend crate, tests/fault.rs, tests/outage.rs,
# tests/restart.rs).
# Sourced by .ci/run; defines ensure_services and ensure_private_server_binaries.

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_port() {
  local name=$1 port=$2
  for _ in $(seq 1 120); do
    if port_open "$port"; then
      echo "   $name is up on $port"
      return 0
    fi
    sleep 1
  done
  echo "error: $name did not come up on port $port" >&2
  return 1
}

start_if_down() {
  local name=$1 port=$2
  shift 2
  if port_open "$port"; then
    echo "   $name already up on $port"
    return 0
  fi
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "error: $name is down and '$1' is not installed" >&2
    return 1
  fi
  echo "   starting $name"
  "$@" || true
  wait_port "$name" "$port"
}

ensure_services() {
  echo "== services"
  start_if_down postgresql 5432 pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql 2>/dev/null | head -n1)" main start
  start_if_down redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  start_if_down rabbitmq 5672 rabbitmq-server -detached
  start_if_down nats 4222 start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
}

# The tests start their own redis-server (TLS), nats-server (TLS, JetStream), RabbitMQ node
# (listeners.ssl) and PostgreSQL cluster (initdb, ssl = on, run as `postgres` under root);
# they never touch the shared services. Fails naming what is missing.
ensure_private_server_binaries() {
  echo "== private server binaries (fault and TLS tests)"
  local missing=0 found
  for binary in redis-server nats-server; do
    if command -v "$binary" >/dev/null 2>&1 || [ -x "/usr/sbin/$binary" ] || [ -x "/usr/local/sbin/$binary" ]; then
      echo "   $binary found"
    else
      echo "error: $binary is not installed (the TLS and fault tests start a private one)" >&2
      missing=1
    fi
  done
  if [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    echo "   /usr/lib/rabbitmq/bin/rabbitmq-server found"
  else
    echo "error: /usr/lib/rabbitmq/bin/rabbitmq-server is missing (install rabbitmq-server)" >&2
    missing=1
  fi
  found=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1)
  if [ -n "$found" ] && [ -x "$(dirname "$found")/postgres" ]; then
    echo "   $(dirname "$found")/{initdb,postgres} found"
  else
    echo "error: /usr/lib/postgresql/*/bin/initdb and postgres are missing (install postgresql)" >&2
    missing=1
  fi
  if [ "$(id -u)" = 0 ] && ! command -v runuser >/dev/null 2>&1; then
    echo "error: runuser is missing: under root the private PostgreSQL runs as postgres through it" >&2
    missing=1
  fi
  return "$missing"
}
