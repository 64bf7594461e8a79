#!/usr/bin/env bash
# The metadata store under load, side by side in one run: 40 concurrent
# readers (GET a job, list protected items, list jobs) against `rsvault
# serve`, without and with 6 Backup now jobs running all the time, for each
# server build and database given; p50 and p99 of every request.
# usage: bench/metadata.sh [RUNS]
#   SERVERS="label=BINARY[@DATABASE] ..."  (default: this tree's release build
#   on SQLite, and on PostgreSQL when RSVAULT_BENCH_POSTGRES is a cluster URL:
#   each run gets a fresh database in it)
#   SECONDS_PER_LOAD (20), READERS (40), BACKUPS (6)
# Output: one TSV row per run, server and load on stdout.
set -euo pipefail
runs=${1:-3}
cd "$(dirname "$0")/.."
. scripts/common.sh
secs=${SECONDS_PER_LOAD:-20}
readers=${READERS:-40}
backups=${BACKUPS:-6}
cargo build --release --locked -p rsvault --example read_load >&2
load="$CARGO_TARGET_DIR/release/examples/read_load"
if [ -z "${SERVERS:-}" ]; then
  SERVERS="sqlite=$CARGO_TARGET_DIR/release/rsvault"
  if [ -n "${RSVAULT_BENCH_POSTGRES:-}" ]; then
    SERVERS="$SERVERS postgres=$CARGO_TARGET_DIR/release/rsvault@$RSVAULT_BENCH_POSTGRES"
  fi
fi
work=$(mktemp -d)
srv=
loops=()
cleanup() {
  for p in "${loops[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$srv" ] && kill "$srv" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port=7471
sub=00000000-0000-0000-0000-000000000000

# A fresh database of a PostgreSQL cluster URL (postgres://user@host:port/x).
fresh_database() {
  local base=$1 name=$2
  psql "$base" -qAtc "CREATE DATABASE $name" >/dev/null
  echo "${base%/*}/$name"
}

start_server() { # bin data database
  local bin=$1 data=$2 db=$3
  printf '[inventory]\nimage_roots = ["%s"]\n' "$work/images" >"$work/rsvault.toml"
  local extra=()
  [ -n "$db" ] && extra=(--database "$db")
  "$bin" serve --data-dir "$data" --config "$work/rsvault.toml" --listen 127.0.0.1:$port "${extra[@]}" \
    >"$work/serve.log" 2>&1 &
  srv=$!
  for _ in $(seq 200); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && return; sleep 0.1; done
  cat "$work/serve.log" >&2
  return 1
}

setup_vault() { # bin
  local bin=$1
  "$bin" backup vault create -g bench -n bench-vault -l westeurope -o none
  for i in $(seq "$backups"); do
    "$bin" vm create -g bench -n "vm$i" -l westeurope --os-disk "$work/images/vm$i.raw" -o none
    "$bin" backup protection enable-for-vm -g bench -v bench-vault --vm "vm$i" --policy-name DefaultPolicy -o none
    "$bin" backup protection backup-now -g bench -v bench-vault -c "vm$i" -i "vm$i" -o none
  done
}

backup_loop() { # bin i
  local bin=$1 i=$2 job
  while true; do
    job=$("$bin" backup protection backup-now -g bench -v bench-vault -c "vm$i" -i "vm$i" -o json |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])') || return 0
    "$bin" backup job wait -g bench -v bench-vault -n "$job" -o none || return 0
  done
}

run_load() { # label run mode
  local vault=/subscriptions/$sub/resourceGroups/bench/providers/Microsoft.RecoveryServices/vaults/bench-vault
  local job
  job=$(curl -sf -H "Authorization: Bearer $RSVAULT_TOKEN" "$RSVAULT_ENDPOINT$vault/backupJobs?api-version=2023-04-01" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["value"][0]["name"])')
  "$load" --endpoint "$RSVAULT_ENDPOINT" --seconds "$secs" --readers "$readers" \
    --path "$vault/backupJobs/$job?api-version=2023-04-01" \
    --path "$vault/backupProtectedItems?api-version=2023-04-01" \
    --path "$vault/backupJobs?api-version=2023-04-01" |
    python3 -c 'import json,sys
d = json.load(sys.stdin); a = d["all"]
print("\t".join(map(str, [sys.argv[1], sys.argv[2], sys.argv[3], a["requests"], d["errors"], a["p50_ms"], a["p99_ms"]] + [p["p99_ms"] for p in d["paths"]])))' "$1" "$2" "$3"
}

mkdir -p "$work/images"
for i in $(seq "$backups"); do
  # 32 MiB of incompressible data: every Backup now reads and hashes it all.
  head -c 32M /dev/urandom >"$work/images/vm$i.raw"
done
printf 'server\trun\tload\trequests\terrors\tp50_ms\tp99_ms\tp99_get_job_ms\tp99_list_items_ms\tp99_list_jobs_ms\n'
for r in $(seq "$runs"); do
  for s in $SERVERS; do
    label=${s%%=*}
    spec=${s#*=}
    bin=${spec%%@*}
    db=
    [[ $spec == *@* ]] && db=$(fresh_database "${spec#*@}" "rsvault_bench_${label}_${r}_$$")
    data="$work/data-$label-$r"
    start_server "$bin" "$data" "$db"
    export RSVAULT_ENDPOINT=http://127.0.0.1:$port RSVAULT_TOKEN
    RSVAULT_TOKEN=$(cat "$data/admin-token")
    setup_vault "$bin"
    run_load "$label" "$r" "readers"
    loops=()
    for i in $(seq "$backups"); do
      backup_loop "$bin" "$i" &
      loops+=($!)
    done
    run_load "$label" "$r" "readers+${backups}backups"
    for p in "${loops[@]}"; do kill "$p" 2>/dev/null || true; done
    wait "${loops[@]}" 2>/dev/null || true
    loops=()
    kill "$srv"
    wait "$srv" 2>/dev/null || true
    srv=
  done
done
