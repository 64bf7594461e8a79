# Shared set-up for the scripts: packages, toolchain and target directory.
# shellcheck shell=bash

# Installs the Debian packages named, with apt-get, when any is missing.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust 1.85 or newer (https://rustup.rs), then run this again" >&2
    exit 1
  fi
}

# Cargo's target directory lives outside the checkout so rebuilds are fast.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rsvault/target}"

# Starts a throw-away PostgreSQL cluster for the tests: initdb and pg_ctl as
# an unprivileged user (the tests run as root in CI, and PostgreSQL refuses
# root), in a temporary directory, listening only on a Unix socket there.
# Exports RSVAULT_TEST_POSTGRES, the URL of its `postgres` database (user
# `rsvault`, trust authentication). stop_test_postgres removes it.
start_test_postgres() {
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "PostgreSQL's initdb not found under /usr/lib/postgresql (install postgresql)" >&2
    return 1
  fi
  RSVAULT_PG_DIR="$(mktemp -d /tmp/rsvault-pg.XXXXXX)"
  export RSVAULT_PG_DIR RSVAULT_PG_BIN="$bin"
  local run=()
  if [ "$(id -u)" -eq 0 ]; then
    chown nobody: "$RSVAULT_PG_DIR"
    run=(runuser -u nobody --)
  fi
  chmod 0755 "$RSVAULT_PG_DIR"
  "${run[@]}" "$bin/initdb" -D "$RSVAULT_PG_DIR/data" -U rsvault --auth=trust -E UTF8 \
    --locale=C.UTF-8 >"$RSVAULT_PG_DIR/initdb.log" 2>&1 \
    || { cat "$RSVAULT_PG_DIR/initdb.log" >&2; return 1; }
  # A test cluster: no fsync, enough connections for a suite's servers.
  # RSVAULT_PG_DURABLE=1 (the benchmarks) keeps PostgreSQL's durable defaults.
  local fast="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  [ "${RSVAULT_PG_DURABLE:-}" = 1 ] && fast=
  "${run[@]}" "$bin/pg_ctl" -D "$RSVAULT_PG_DIR/data" -l "$RSVAULT_PG_DIR/server.log" -w \
    -o "-k $RSVAULT_PG_DIR -c listen_addresses= -c max_connections=300 $fast" \
    start >/dev/null || { cat "$RSVAULT_PG_DIR/server.log" >&2; return 1; }
  export RSVAULT_TEST_POSTGRES="postgresql://rsvault@/postgres?host=$RSVAULT_PG_DIR"
  echo "test PostgreSQL cluster in $RSVAULT_PG_DIR" >&2
}

stop_test_postgres() {
  [ -n "${RSVAULT_PG_DIR:-}" ] || return 0
  local run=()
  [ "$(id -u)" -eq 0 ] && run=(runuser -u nobody --)
  "${run[@]}" "$RSVAULT_PG_BIN/pg_ctl" -D "$RSVAULT_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$RSVAULT_PG_DIR"
  unset RSVAULT_PG_DIR RSVAULT_TEST_POSTGRES
}

# A free TCP port on the loopback interface.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something listens on 127.0.0.1:$1 (at most $2 seconds).
wait_for_port() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# Starts moto's S3 server (moto[server] from PyPI, in a virtualenv of its
# own) and Azurite's Blob server (npm, tests/storage/package-lock.json) on
# free loopback ports, for the object-storage backends' tests. Exports
# RSVAULT_TEST_S3 and RSVAULT_TEST_AZURITE (their http://127.0.0.1:PORT).
# stop_test_storage stops both.
start_test_storage() {
  local moto_venv="${RSVAULT_MOTO_VENV:-$HOME/.cache/rsvault/moto-venv}"
  [ -x "$moto_venv/bin/python" ] || python3 -m venv "$moto_venv"
  "$moto_venv/bin/pip" install -q -r tests/storage/requirements.txt
  npm ci --prefix tests/storage --no-audit --no-fund --loglevel=error
  RSVAULT_STORAGE_DIR="$(mktemp -d /tmp/rsvault-storage.XXXXXX)"
  export RSVAULT_STORAGE_DIR
  local s3_port az_port
  s3_port="$(free_port)"
  "$moto_venv/bin/moto_server" -H 127.0.0.1 -p "$s3_port" \
    >"$RSVAULT_STORAGE_DIR/moto.log" 2>&1 &
  echo $! >"$RSVAULT_STORAGE_DIR/moto.pid"
  az_port="$(free_port)"
  # In memory; from the scratch folder, where Azurite leaves its debug files.
  local azurite="$PWD/tests/storage/node_modules/azurite/dist/src/blob/main.js"
  (cd "$RSVAULT_STORAGE_DIR" && exec node "$azurite" --blobHost 127.0.0.1 --blobPort "$az_port" \
    --inMemoryPersistence --silent --skipApiVersionCheck) >"$RSVAULT_STORAGE_DIR/azurite.log" 2>&1 &
  echo $! >"$RSVAULT_STORAGE_DIR/azurite.pid"
  wait_for_port "$s3_port" 60 || { cat "$RSVAULT_STORAGE_DIR/moto.log" >&2; return 1; }
  wait_for_port "$az_port" 60 || { cat "$RSVAULT_STORAGE_DIR/azurite.log" >&2; return 1; }
  export RSVAULT_TEST_S3="http://127.0.0.1:$s3_port"
  export RSVAULT_TEST_AZURITE="http://127.0.0.1:$az_port"
  echo "test S3 (moto) at $RSVAULT_TEST_S3, Azure Blob (Azurite) at $RSVAULT_TEST_AZURITE" >&2
}

stop_test_storage() {
  [ -n "${RSVAULT_STORAGE_DIR:-}" ] || return 0
  local f
  for f in "$RSVAULT_STORAGE_DIR"/*.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  rm -rf "$RSVAULT_STORAGE_DIR"
  unset RSVAULT_STORAGE_DIR RSVAULT_TEST_S3 RSVAULT_TEST_AZURITE
}

# The build's own needs: rsvault links libvirt (the libvirt hypervisor),
# found with pkg-config.
ensure_build_deps() {
  ensure_packages pkg-config libvirt-dev
}

# Makes sure a system libvirt daemon answers on qemu:///system for the
# libvirt tests, starting virtlogd and libvirtd (as root, without systemd)
# when none runs. Exports RSVAULT_TEST_LIBVIRT. stop_test_libvirt stops what
# this started.
start_test_libvirt() {
  ensure_packages libvirt-daemon-system libvirt-clients
  export RSVAULT_TEST_LIBVIRT=qemu:///system
  if virsh -c "$RSVAULT_TEST_LIBVIRT" version >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "no libvirt daemon answers on $RSVAULT_TEST_LIBVIRT and only root can start one" >&2
    unset RSVAULT_TEST_LIBVIRT
    return 0
  fi
  RSVAULT_LIBVIRT_STARTED=1
  # The libvirt tests may restart a daemon the test command started.
  export RSVAULT_TEST_LIBVIRT_RESTART=1
  pgrep -x virtlogd >/dev/null || virtlogd -d
  libvirtd -d
  local i
  for i in $(seq 1 100); do
    virsh -c "$RSVAULT_TEST_LIBVIRT" version >/dev/null 2>&1 && break
    sleep 0.2
  done
  virsh -c "$RSVAULT_TEST_LIBVIRT" version >/dev/null || { echo "libvirtd did not start" >&2; return 1; }
  echo "test libvirt at $RSVAULT_TEST_LIBVIRT" >&2
}

stop_test_libvirt() {
  [ -n "${RSVAULT_LIBVIRT_STARTED:-}" ] || return 0
  pkill -x libvirtd 2>/dev/null || true
  pkill -x virtlogd 2>/dev/null || true
  unset RSVAULT_LIBVIRT_STARTED RSVAULT_TEST_LIBVIRT_RESTART
}
