#!/usr/bin/env bash
# The main job: the vault server with a demo inventory. Builds rsvault and
# runs `rsvault serve --demo`: the Azure Recovery Services API on
# 127.0.0.1:7431 (RSVAULT_LISTEN), with demo VMs in japaneast and westeurope
# whose disks hold real ext4 file systems. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
ensure_rust
ensure_build_deps
ensure_packages qemu-utils e2fsprogs
cargo build --release --locked -p rsvault
data="${RSVAULT_DATA_DIR:-$HOME/.local/share/rsvault-demo}"
listen="${RSVAULT_LISTEN:-127.0.0.1:7431}"
mkdir -p "$data"
cat <<MSG
rsvault demo: data in $data, API on https://$listen
(HTTPS with a self-signed certificate made on first start: $data/tls/server.crt;
its SHA-256 fingerprint is printed below; Python's SDKs and az trust it with
REQUESTS_CA_BUNDLE=$data/tls/server.crt)
Portal: open https://$listen/, accept the certificate, and sign in with the
appId and password in $data/identity/owner.json (the host Owner, made on
first start)
In another shell, try:
  export RSVAULT_ENDPOINT=https://$listen RSVAULT_DATA_DIR=$data
  $CARGO_TARGET_DIR/release/rsvault vm list -o table
  $CARGO_TARGET_DIR/release/rsvault backup vault create -g demo-rg -n demo-vault -l japaneast
MSG
exec "$CARGO_TARGET_DIR/release/rsvault" serve --demo --data-dir "$data" --listen "$listen"
