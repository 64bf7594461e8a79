#!/usr/bin/env bash
# Live-VM benchmark (see bench/live.py): CBT incremental vs full re-read of a
# running QEMU VM after 1 % guest writes, and instant-tier vs vault restore.
# usage: bench/live.sh IMAGE [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
ensure_build_deps
ensure_packages qemu-system-x86 qemu-utils
cargo build --release --locked -p rsvault >&2
exec python3 bench/live.py "$@"
