#!/usr/bin/env bash
# The engine on its own: build a small VM disk image holding a real ext4 file
# system, back it up, change it, back it up again (incremental), restore the
# latest recovery point, compare it bit for bit and verify the store.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
ensure_rust
ensure_build_deps
ensure_packages qemu-utils e2fsprogs python3
cargo build --release --locked -p rsvault
rsvault="$CARGO_TARGET_DIR/release/rsvault"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
echo "working in $work"
stage="$work/files"
mkdir -p "$stage"
cp -a /usr/share/doc "$stage/" 2>/dev/null || true
rm -f "$work/vm.raw" && truncate -s 1G "$work/vm.raw"
mkfs.ext4 -q -F -d "$stage" "$work/vm.raw"
rm -rf "$stage" "$work/store" "$work/vault.key"
set -x
"$rsvault" disk init --store "$work/store" --key-file "$work/vault.key"
"$rsvault" disk backup --store "$work/store" --key-file "$work/vault.key" --name demo-vm "$work/vm.raw"
python3 - "$work/vm.raw" <<'PY'
import os, random, sys
rng = random.Random(1)
with open(sys.argv[1], "r+b") as f:
    size = os.fstat(f.fileno()).st_size
    for _ in range(500):
        f.seek(rng.randrange(size // 4096) * 4096); f.write(rng.randbytes(4096))
PY
"$rsvault" disk backup --store "$work/store" --key-file "$work/vault.key" --name demo-vm "$work/vm.raw"
"$rsvault" disk points --store "$work/store" --key-file "$work/vault.key" --name demo-vm
"$rsvault" disk restore --store "$work/store" --key-file "$work/vault.key" --name demo-vm --output "$work/restored.raw"
cmp "$work/vm.raw" "$work/restored.raw"
"$rsvault" disk restore --store "$work/store" --key-file "$work/vault.key" --name demo-vm --format qcow2 --output "$work/restored.qcow2"
qemu-img compare -q "$work/vm.raw" "$work/restored.qcow2"
"$rsvault" disk verify --store "$work/store" --key-file "$work/vault.key"
set +x
echo "demo finished: the restored raw and qcow2 images are identical to the disk"
