#!/usr/bin/env bash
# The reliability suites at their long setting, for docs/RELIABILITY.md:
# - the randomised race of backups, forgets, gcs and restores in threads and
#   processes (crates/rsvault/tests/gc_race.rs), for RACE_SECONDS;
# - kill -9 of the vault server at random moments of backup, restore and a
#   retention tick (tests/python/test_crash_server.py), for TRIALS kills.
# usage: bench/reliability.sh [OUT_DIR]   (RACE_SECONDS=600 TRIALS=120 by default)
# CI runs both at a small size through the ordinary test command.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
ensure_build_deps
out=${1:-$(mktemp -d)}
mkdir -p "$out"
race=${RACE_SECONDS:-600}
trials=${TRIALS:-120}
venv="${RSVAULT_VENV:-$HOME/.cache/rsvault/venv}"
cargo build --locked -p rsvault >&2
echo "gc race: $race s" >&2
RSVAULT_RACE_SECONDS=$race cargo test --locked -p rsvault --test gc_race -- --nocapture \
  2>&1 | tee "$out/gc_race.log" | grep -E "seeds|test result" >&2
echo "server kills: $trials trials" >&2
RSVAULT_BIN="$CARGO_TARGET_DIR/debug/rsvault" RSVAULT_CRASH_TRIALS=$trials \
  RSVAULT_CRASH_REPORT="$out/crash.json" \
  "$venv/bin/python" -m pytest -q -s tests/python/test_crash_server.py 2>&1 | tee "$out/crash.log" | tail -3 >&2
grep -E "seeds, .* rounds" "$out/gc_race.log" || true
cat "$out/crash.json"
