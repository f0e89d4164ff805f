# Sourced by ./stack test: a private PostgreSQL cluster on loopback for the
# storage tests, in .cache/postgres, started fresh and stopped on exit.
# Exports TEST_DATABASE_URL; the tests that need it say so when it is unset.

TEST_PG_PORT="${TEST_PG_PORT:-55432}"
TEST_PG_DIR="$STACK_ROOT/.cache/postgres"

_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

_pg_as() {
  # PostgreSQL refuses to run as root: use the postgres system user then.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

test_postgres_start() {
  if [ -n "${TEST_DATABASE_URL:-}" ]; then
    echo "[stack] using TEST_DATABASE_URL from the environment" >&2
    return 0
  fi
  local bin
  bin="$(_pg_bin)"
  if [ -z "$bin" ]; then
    echo "[stack] PostgreSQL is not installed: PostgreSQL tests will report why they do not run" >&2
    return 0
  fi
  test_postgres_stop
  rm -rf "$TEST_PG_DIR" && mkdir -p "$TEST_PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$TEST_PG_DIR"
  _pg_as "$bin/initdb" -D "$TEST_PG_DIR/data" -U cascadia --auth=trust -E UTF8 >/dev/null
  _pg_as "$bin/pg_ctl" -D "$TEST_PG_DIR/data" -l "$TEST_PG_DIR/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $TEST_PG_PORT -c unix_socket_directories=$TEST_PG_DIR -c max_connections=300 -c fsync=off" start >/dev/null
  _pg_as "$bin/createdb" -h 127.0.0.1 -p "$TEST_PG_PORT" -U cascadia cascadia_test
  export TEST_DATABASE_URL="postgres://cascadia@127.0.0.1:$TEST_PG_PORT/cascadia_test"
  echo "[stack] PostgreSQL test server on 127.0.0.1:$TEST_PG_PORT" >&2
}

test_postgres_stop() {
  local bin
  bin="$(_pg_bin)"
  if [ -n "$bin" ] && [ -f "$TEST_PG_DIR/data/postmaster.pid" ]; then
    _pg_as "$bin/pg_ctl" -D "$TEST_PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
  fi
}
