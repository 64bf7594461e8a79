#!/usr/bin/env bash
# Backup now through `rsvault serve` (the API, the job, the catalogue)
# against `rsvault disk backup` of the same image straight into a store,
# side by side in one run: the service's overhead over the engine.
# usage: bench/server_overhead.sh IMAGE [RUNS]   (release build in $CARGO_TARGET_DIR)
set -euo pipefail
img=$(realpath "${1:?usage: server_overhead.sh IMAGE [RUNS]}")
runs=${2:-3}
cd "$(dirname "$0")/.."
. scripts/common.sh
ensure_build_deps
bin="$CARGO_TARGET_DIR/release/rsvault"
work=$(mktemp -d)
trap 'kill $srv 2>/dev/null || true; rm -rf "$work"' EXIT
port=7461
# The image may be anywhere: its folder is the server's image root.
printf '[inventory]\nimage_roots = ["%s"]\n' "$(dirname "$img")" >"$work/rsvault.toml"
"$bin" serve --data-dir "$work/data" --config "$work/rsvault.toml" --listen 127.0.0.1:$port >"$work/serve.log" 2>&1 &
srv=$!
# HTTPS with the certificate the server makes; the CLI trusts it through
# RSVAULT_DATA_DIR.
for _ in $(seq 100); do curl -sfk https://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
export RSVAULT_ENDPOINT=https://127.0.0.1:$port RSVAULT_DATA_DIR="$work/data"
# One login as the host Owner; every command then sends its token.
RSVAULT_TOKEN=$("$bin" account get-access-token | python3 -c 'import json, sys; print(json.load(sys.stdin)["accessToken"])')
export RSVAULT_TOKEN
"$bin" vm create -g bench -n bench-vm -l westeurope --os-disk "$img" -o none
"$bin" backup vault create -g bench -n bench-vault -l westeurope -o none
"$bin" backup protection enable-for-vm -g bench -v bench-vault --vm bench-vm --policy-name DefaultPolicy -o none
"$bin" disk init --store "$work/store" --key-file "$work/key" >/dev/null
printf 'run\tkind\tserver_wall_s\tjob_duration_s\tdirect_s\n'
for r in $(seq 0 "$runs"); do
  # Run 0 is the first (full) backup; every later run follows 500 scattered 4 KiB writes.
  for kind in $([ "$r" = 0 ] && echo full || echo incremental); do
    if [ "$kind" = incremental ]; then
      python3 - "$img" <<'PY'
import os, random, sys
rng = random.Random(int.from_bytes(os.urandom(4), "big"))
with open(sys.argv[1], "r+b") as f:
    size = os.fstat(f.fileno()).st_size
    for _ in range(500):
        f.seek(rng.randrange(size // 4096) * 4096); f.write(rng.randbytes(4096))
PY
      sync
    fi
    t0=$(date +%s.%N)
    job=$("$bin" backup protection backup-now -g bench -v bench-vault -c bench-vm -i bench-vm -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')
    "$bin" backup job wait -g bench -v bench-vault -n "$job" -o none
    t1=$(date +%s.%N)
    "$bin" disk backup --store "$work/store" --key-file "$work/key" --name vm "$img" >/dev/null
    t2=$(date +%s.%N)
    dur=$("$bin" backup job show -g bench -v bench-vault -n "$job" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["properties"]["duration"][2:-1])')
    printf '%s\t%s\t%.2f\t%.2f\t%.2f\n' "$r" "$kind" "$(echo "$t1 - $t0" | bc)" "$dur" "$(echo "$t2 - $t1" | bc)"
  done
done
