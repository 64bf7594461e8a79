#!/usr/bin/env bash
# Side-by-side benchmark on object storage: rsvault (s3://), restic
# (-r s3:http://…) and rustic (opendal's S3) against the same local S3 server
# (moto's, from PyPI), on one VM disk image, in one run. Steps as in peers.sh:
# full backup, a day of guest writes (mutate.py), incremental, full restore.
# Also rsvault's replication of the incremental to a second store (the
# geo-redundant secondary), and for every step the bytes uploaded and the
# PUT/GET/LIST/HEAD/DELETE requests the server saw (object stores bill per
# request).
#
# usage: bench/s3.sh IMAGE WORKDIR [RUNS]
#   IMAGE    raw disk image (mkimage.sh IMAGE 2G if missing); never modified
#   WORKDIR  scratch directory (a few GB); results.tsv stays there
#   RUNS     repetitions, for medians (default 3)
# environment: RSVAULT_BIN (default REPO/target/release/rsvault), PEERS
#   (default "restic rustic"), IMAGE_SIZE (2G), MOTO_VENV
#   (~/.cache/rsvault/moto-venv, made as scripts/common.sh makes it).
# stdout: results.tsv: run tool step wall_s cpu_s maxrss_kb uploaded_bytes puts gets lists heads deletes
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
img=$1 work=$2 runs=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
shared=${SHARED_BENCH:-$repo/../shared/bench}
bin=${RSVAULT_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/rsvault}
peers=${PEERS:-restic rustic}
moto_venv=${MOTO_VENV:-$HOME/.cache/rsvault/moto-venv}
say() { printf '[s3.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
[ -x "$bin" ] || (cd "$repo" && (. scripts/common.sh && ensure_build_deps) && cargo build --release -p rsvault >&2)
[ -x "$moto_venv/bin/moto_server" ] || { python3 -m venv "$moto_venv"; "$moto_venv/bin/pip" install -q -r "$repo/tests/storage/requirements.txt"; }
mkdir -p "$work"
[ -f "$img" ] || bash "$shared/mkimage.sh" "$img" "${IMAGE_SIZE:-2G}" >&2

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
endpoint=http://127.0.0.1:$port
log=$work/moto.log
moto=
# A fresh moto server (in memory) for each tool's run, so memory stays flat.
start_moto() {
  "$moto_venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  moto=$!
  for _ in $(seq 100); do curl -s -o /dev/null "$endpoint" && return; sleep 0.1; done
  echo "moto_server did not start" >&2; exit 1
}
stop_moto() { [ -z "$moto" ] || { kill "$moto" 2>/dev/null; wait "$moto" 2>/dev/null || true; moto=; }; }
trap 'stop_moto; rm -rf "$work/disk.raw" "$work/restore" "$work/restic-cache" "$work/rustic-cache" "$work/index-cache"' EXIT

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=benchsecret AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL=$endpoint AWS_ALLOW_HTTP=true RSVAULT_CACHE_DIR=$work/index-cache
export RESTIC_PASSWORD=bench RUSTIC_PASSWORD=bench

# The bytes under a bucket's prefix.
stored() { # bucket
  "$moto_venv/bin/python" - "$endpoint" "$1" <<'EOF'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
total = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[2]):
    total += sum(o["Size"] for o in page.get("Contents", []))
print(total)
EOF
}
bucket() { curl -s -X PUT -o /dev/null "$endpoint/$1"; }

# Requests moto logged since line $1, by kind.
requests() { # from_line
  tail -n +"$(( $1 + 1 ))" "$log" | python3 -c '
import re, sys
c = dict(PUT=0, GET=0, LIST=0, HEAD=0, DELETE=0)
for line in sys.stdin:
    # Answers other than 200 (206 of a ranged GET, 404, 412) are coloured.
    m = re.search(r"\"(?:\x1b\[[0-9;]*m)*(PUT|GET|HEAD|DELETE|POST) (\S+) HTTP", line)
    if not m:
        continue
    verb, path = m.groups()
    if verb == "GET" and ("list-type" in path or "prefix=" in path or re.match(r"^/[^/]+/?(\?|$)", path)):
        verb = "LIST"
    if verb == "POST":
        verb = "DELETE" if "delete" in path else "PUT"
    c[verb] += 1
print(c["PUT"], c["GET"], c["LIST"], c["HEAD"], c["DELETE"], sep="\t")'
}

# step tool bucket cmd...: one TSV row.
t() {
  local step=$1 tool=$2 b=$3; shift 3
  local before_lines before_bytes
  before_lines=$(wc -l <"$log")
  before_bytes=$(stored "$b")
  /usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" "$@" >"$work/$tool.$step.log" 2>&1 \
    || { echo "FAILED $tool $step" >&2; tail -5 "$work/$tool.$step.log" >&2; return 1; }
  sleep 0.2 # moto writes its log line after the answer
  read -r wall user sys rss <"$work/time.txt"
  local after_bytes
  after_bytes=$(stored "$b")
  printf "%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\n" "$run" "$tool" "$step" "$wall" "$(echo "$user + $sys" | bc)" "$rss" \
    "$(( after_bytes > before_bytes ? after_bytes - before_bytes : 0 ))" "$(requests "$before_lines")"
}

printf "run\ttool\tstep\twall_s\tcpu_s\tmaxrss_kb\tuploaded_bytes\tputs\tgets\tlists\theads\tdeletes\n" | tee "$work/results.tsv"
for run in $(seq "$runs"); do
  for tool in rsvault $peers; do
    command -v "$tool" >/dev/null || [ "$tool" = rsvault ] || { say "skipping $tool (not installed)"; continue; }
    say "run $run: $tool"
    b=$tool-$run
    stop_moto
    start_moto
    bucket "$b"
    rm -rf "$work/restore" "$work/restic-cache" "$work/rustic-cache" "$work/index-cache"
    cp --sparse=always "$img" "$work/disk.raw"
    sync
    case $tool in
      rsvault)
        bucket "$b-secondary"
        store=s3://$b/store secondary=s3://$b-secondary/store key=$work/rsvault-$run.key
        rm -f "$key"
        "$bin" disk init --store "$store" --key-file "$key" >/dev/null
        t full rsvault "$b" "$bin" disk backup --store "$store" --key-file "$key" --name disk "$work/disk.raw"
        "$bin" disk replicate --store "$store" --key-file "$key" --to "$secondary" --init >/dev/null
        python3 "$shared/mutate.py" "$work/disk.raw" >/dev/null
        t incr rsvault "$b" "$bin" disk backup --store "$store" --key-file "$key" --name disk "$work/disk.raw"
        t replicate-incr rsvault "$b-secondary" "$bin" disk replicate --store "$store" --key-file "$key" --to "$secondary"
        t restore rsvault "$b" "$bin" disk restore --store "$store" --key-file "$key" --name disk --output "$work/restore"
        cmp "$work/disk.raw" "$work/restore"
        rm -f "$work/restore"
        # Without the final fsync (the peers do none).
        t restore-nosync rsvault "$b" "$bin" disk restore --store "$store" --key-file "$key" --name disk --no-sync --output "$work/restore"
        cmp "$work/disk.raw" "$work/restore" ;;
      restic)
        export RESTIC_REPOSITORY=s3:$endpoint/$b/repo RESTIC_CACHE_DIR=$work/restic-cache
        restic init --repository-version 2 >/dev/null
        (cd "$work" && t full restic "$b" restic backup --compression auto --host bench disk.raw)
        python3 "$shared/mutate.py" "$work/disk.raw" >/dev/null
        (cd "$work" && t incr restic "$b" restic backup --compression auto --host bench disk.raw)
        t restore restic "$b" restic restore latest --target "$work/restore"
        cmp "$work/disk.raw" "$work/restore/disk.raw" ;;
      rustic)
        # opendal's S3 service, configured by a profile (rustic has no
        # command-line flag for repository options).
        mkdir -p "$work/rustic-config/rustic"
        cat >"$work/rustic-config/rustic/bench.toml" <<TOML
[repository]
repository = "opendal:s3"
password = "bench"
[repository.options]
bucket = "$b"
root = "/repo"
endpoint = "$endpoint"
region = "us-east-1"
access_key_id = "bench"
secret_access_key = "benchsecret"
TOML
        export XDG_CONFIG_HOME=$work/rustic-config
        opts=(-P bench --cache-dir "$work/rustic-cache")
        rustic "${opts[@]}" init >/dev/null 2>&1
        (cd "$work" && t full rustic "$b" rustic "${opts[@]}" backup disk.raw)
        python3 "$shared/mutate.py" "$work/disk.raw" >/dev/null
        (cd "$work" && t incr rustic "$b" rustic "${opts[@]}" backup disk.raw)
        t restore rustic "$b" rustic "${opts[@]}" restore latest "$work/restore"
        f=$(find "$work/restore" -name disk.raw | head -1)
        cmp "$work/disk.raw" "${f:-$work/restore}" ;;
    esac
    rm -rf "$work/restore"
  done
done | tee -a "$work/results.tsv"
