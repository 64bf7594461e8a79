#!/bin/sh
# Writes seed corpora made with qemu-img (package qemu-utils) into corpus/.
# Then: RUSTC_BOOTSTRAP=1 cargo fuzz run qcow2_open corpus/qcow2_open -- -max_len=10000000
set -eu
cd "$(dirname "$0")"
mkdir -p corpus/qcow2_open corpus/vhd_open corpus/vhdx_open
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
head -c 300000 /dev/urandom > "$t/d"
truncate -s 1M "$t/d"
printf 'hello%.0s' $(seq 2000) | dd of="$t/d" bs=1 seek=700000 conv=notrunc 2>/dev/null
q() { qemu-img "$@" >/dev/null; }
q convert -f raw -O qcow2 -o cluster_size=4096 "$t/d" corpus/qcow2_open/plain
q convert -f raw -O qcow2 -c -o cluster_size=4096 "$t/d" corpus/qcow2_open/zlib
q convert -f raw -O qcow2 -c -o cluster_size=4096,compression_type=zstd "$t/d" corpus/qcow2_open/zstd
q convert -f raw -O qcow2 -o cluster_size=512,compat=0.10 "$t/d" corpus/qcow2_open/v2
q create -f qcow2 -o cluster_size=4096 corpus/qcow2_open/empty 64M
q convert -f raw -O vpc -o subformat=dynamic "$t/d" corpus/vhd_open/dyn
q convert -f raw -O vpc -o subformat=fixed "$t/d" corpus/vhd_open/fixed
q create -f vpc corpus/vhd_open/empty 8M
q convert -f raw -O vhdx -o block_size=1M,log_size=1M "$t/d" corpus/vhdx_open/b1m
q create -f vhdx -o block_size=1M,log_size=1M corpus/vhdx_open/empty 64M
