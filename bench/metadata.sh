#!/usr/bin/env bash
# The metadata store under load, side by side in one run: 40 concurrent
# readers (GET a job, list protected items, list jobs) against `rsvault
# serve`, without and with 6 Backup now jobs running all the time, for each
# server build and database given; p50 and p99 of every request.
# usage: bench/metadata.sh [RUNS]
#   SERVERS="label=BINARY[@DATABASE] ..."  (default: this tree's release build
#   on SQLite, and on PostgreSQL: a cluster of its own, durable like SQLite
#   (fsync on), started for the run unless RSVAULT_BENCH_POSTGRES names one;
#   each run gets a fresh database in it; "@postgres?pool=N" gives the
#   server a pool of N connections). Label "base" is a build from before the
#   metadata store (no listing test).
#   SECONDS_PER_LOAD (20), READERS (40), BACKUPS (6)
#   JOBS (10000): jobs seeded through the metadata store (examples/seed_jobs)
#   for the listing test, on the servers of this tree (label not "base")
# Output: one TSV row per run, server and load on stdout; then the listing
# of JOBS jobs with $filter, a page at a time, per server.
set -euo pipefail
runs=${1:-3}
cd "$(dirname "$0")/.."
. scripts/common.sh
ensure_build_deps
secs=${SECONDS_PER_LOAD:-20}
readers=${READERS:-40}
backups=${BACKUPS:-6}
cargo build --release --locked -p rsvault --bin rsvault --example read_load --example seed_jobs >&2
load="$CARGO_TARGET_DIR/release/examples/read_load"
seed="$CARGO_TARGET_DIR/release/examples/seed_jobs"
jobs=${JOBS:-10000}
work=$(mktemp -d)
listing="$work/listing.tsv"
srv=
loops=()
trap cleanup EXIT
if [ -z "${RSVAULT_BENCH_POSTGRES:-}" ] && { [ -z "${SERVERS:-}" ] || [[ $SERVERS == *@postgres* ]]; }; then
  RSVAULT_PG_DURABLE=1 start_test_postgres
  RSVAULT_BENCH_POSTGRES=$RSVAULT_TEST_POSTGRES
fi
SERVERS=${SERVERS:-"sqlite=$CARGO_TARGET_DIR/release/rsvault postgres=$CARGO_TARGET_DIR/release/rsvault@postgres"}
# "@postgres" is the bench cluster.
SERVERS=${SERVERS//@postgres/@$RSVAULT_BENCH_POSTGRES}
cleanup() {
  for p in "${loops[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$srv" ] && kill "$srv" 2>/dev/null || true
  wait 2>/dev/null || true
  stop_test_postgres
  rm -rf "$work"
}
port=7471
sub=00000000-0000-0000-0000-000000000000

# A fresh database of a PostgreSQL cluster URL (postgresql://user@/db?host=…),
# with the URL's parameters (psql is not given rsvault's own, pool=N).
fresh_database() {
  local base=$1 name=$2
  psql "$(with_database "$base" "" nopool)" -qAtc "CREATE DATABASE $name" >/dev/null
  with_database "$base" "$name"
}

# The URL with another database (the same for ""), "@postgres?pool=N" made
# one query string; without pool=N when a third argument is given.
with_database() {
  python3 -c 'import sys, urllib.parse as u
head, _, query = sys.argv[1].partition("?")
p = u.urlsplit(head)
kv = [x for x in query.replace("?", "&").split("&") if x and not (len(sys.argv) > 3 and x.startswith("pool="))]
path = "/" + sys.argv[2] if sys.argv[2] else p.path
print(u.urlunsplit(p._replace(path=path, query="&".join(kv))))' "$@"
}

start_server() { # bin data database
  local bin=$1 data=$2 db=$3
  printf '[inventory]\nimage_roots = ["%s"]\n' "$work/images" >"$work/rsvault.toml"
  local extra=()
  [ -n "$db" ] && extra=(--database "$db")
  # Plain HTTP on loopback, so builds from before HTTPS compare alike.
  "$bin" serve --help | grep -q -- --insecure-http && extra+=(--insecure-http)
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
print("\t".join(map(str, [sys.argv[1], sys.argv[2], sys.argv[3], a["requests"], d["errors"], a["p50_ms"], a["p99_ms"]] + [p["p99_ms"] for p in d["paths"]] + [p["p50_ms"] for p in d["paths"]])))' "$1" "$2" "$3"
}

# JOBS jobs seeded into the stopped server's database, then listed with a
# $filter (half of them match), following nextLink page by page: the time of
# the first page (median of 20) and of the whole walk (median of 3).
list_many_jobs() { # label bin data database run
  local label=$1 bin=$2 data=$3 db=$4 r=$5
  kill "$srv"; wait "$srv" 2>/dev/null || true; srv=
  local extra=()
  [ -n "$db" ] && extra=(--database "$db")
  # Plain HTTP on loopback, so builds from before HTTPS compare alike.
  "$bin" serve --help | grep -q -- --insecure-http && extra+=(--insecure-http)
  "$seed" --data-dir "$data" "${extra[@]}" --resource-group bench --vault bench-vault --count "$jobs" >&2
  start_server "$bin" "$data" "$db"
  python3 - "$label" "$r" "$RSVAULT_ENDPOINT" "$RSVAULT_TOKEN" "$sub" <<'PY' >>"$listing"
import json, statistics, sys, time, urllib.parse, urllib.request
label, run, endpoint, token, sub = sys.argv[1:]
vault = f"/subscriptions/{sub}/resourceGroups/bench/providers/Microsoft.RecoveryServices/vaults/bench-vault"
query = urllib.parse.urlencode({"api-version": "2023-04-01",
                                "$filter": "operation eq 'Backup' and status eq 'Completed'"})
def get(url):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
first = f"{endpoint}{vault}/backupJobs?{query}"
firsts = []
for _ in range(20):
    t = time.perf_counter(); get(first); firsts.append(time.perf_counter() - t)
walks, pages, seen = [], 0, 0
for _ in range(3):
    t = time.perf_counter(); url = first; pages = seen = 0
    while url:
        d = get(url); pages += 1; seen += len(d["value"]); url = d.get("nextLink")
    walks.append(time.perf_counter() - t)
print(f"{label}\t{run}\t{seen}\t{pages}\t{statistics.median(firsts) * 1000:.1f}\t{statistics.median(walks):.3f}")
PY
}

mkdir -p "$work/images"
for i in $(seq "$backups"); do
  # 32 MiB of incompressible data: every Backup now reads and hashes it all.
  head -c 32M /dev/urandom >"$work/images/vm$i.raw"
done
printf 'server\trun\tload\trequests\terrors\tp50_ms\tp99_ms\tp99_get_job_ms\tp99_list_items_ms\tp99_list_jobs_ms\tp50_get_job_ms\tp50_list_items_ms\tp50_list_jobs_ms\n'
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
    # Earlier versions wrote an admin token; this one logs in as its host Owner.
    if [ -f "$data/admin-token" ]; then
      RSVAULT_TOKEN=$(cat "$data/admin-token")
    else
      RSVAULT_TOKEN=$(RSVAULT_DATA_DIR="$data" "$bin" account get-access-token |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["accessToken"])')
    fi
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
    # Let the last Backup now jobs end before the server stops.
    sleep 3
    [ "$label" != base ] && list_many_jobs "$label" "$bin" "$data" "$db" "$r"
    kill "$srv"
    wait "$srv" 2>/dev/null || true
    srv=
  done
done
printf '\nserver\trun\tjobs_listed\tpages\tfirst_page_ms\twhole_walk_s\n'
cat "$listing"
