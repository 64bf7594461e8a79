#!/usr/bin/env bash
# libvirt benchmark (see bench/libvirt.py): rsvault's checkpoint incremental
# vs its full re-read vs virtnbdbackup's incremental, from one libvirt domain
# after 1 % guest writes. Needs root (a system libvirtd, started if none runs).
# usage: bench/libvirt.sh IMAGE [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
ensure_build_deps
ensure_packages qemu-system-x86 qemu-utils virtnbdbackup
start_test_libvirt
trap stop_test_libvirt EXIT
cargo build --release --locked -p rsvault >&2
python3 bench/libvirt.py "$@"
