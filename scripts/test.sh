#!/usr/bin/env bash
# Runs every check and test. Installs what the tests need (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
ensure_rust
# qemu-utils: qemu-img/qemu-io make the test images; e2fsprogs: mkfs.ext4.
ensure_packages qemu-utils e2fsprogs
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
