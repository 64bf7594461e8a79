#!/usr/bin/env bash
# Build a tiny bootable Linux guest for rsvault's QEMU integration tests.
#
#   tests/guest/build-guest.sh OUTDIR
#
# Produces OUTDIR/vmlinuz and OUTDIR/initramfs.gz (newc cpio, gzip), meant for
#   qemu-system-x86_64 -machine q35,accel=tcg -m 256 -kernel OUTDIR/vmlinuz \
#       -initrd OUTDIR/initramfs.gz -append 'console=ttyS0 quiet' ...
# (no /dev/kvm needed; see tests/guest/smoke.py for a full command line).
#
# The guest runs entirely from the initramfs. Its /init loads the virtio and
# ext4 modules, mounts /dev/vda (ext4) at /data when a disk is attached, and
# runs qemu-ga on the virtio-serial port org.qemu.guest_agent.0 with fsfreeze
# hooks enabled and no RPC blocklist (guest-exec, guest-file-*, guest-fsfreeze-*
# all allowed). Tests customise the guest through the disk:
#   /data/.guest-hooks/*   copied to /etc/qemu/fsfreeze-hook.d/ at boot; each
#                          runs with "freeze" before a freeze, "thaw" after
#   /data/etc-azure/       becomes /etc/azure (symlink)
#
# Sources (all from Debian bookworm, no root needed):
#   kernel + modules  the package behind linux-image-amd64, via apt-get download
#                     (or KERNEL_DEB=/path/to/linux-image-*.deb to skip the download)
#   busybox           /bin/busybox from busybox-static
#   qemu-ga           /usr/sbin/qemu-ga from qemu-guest-agent, plus its libraries
#
# Idempotent: if both outputs exist and are newer than this script, nothing is
# done (FORCE=1 rebuilds anyway). Outputs are written atomically.
set -euo pipefail

usage() { echo "usage: $0 OUTDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
OUTDIR=$1
SCRIPT=${BASH_SOURCE[0]}

# Top-level modules to load; their hard dependencies (modinfo depends=) are
# added automatically and loaded first. crc32c_generic is a soft dependency of
# ext4/jbd2 (metadata checksums): without it, and without modprobe in the
# guest, mounting a default mkfs.ext4 file system fails.
MODULES=(virtio_pci virtio_blk virtio_console crc32c_generic ext4)

BUSYBOX=/bin/busybox
QEMU_GA=/usr/sbin/qemu-ga

log() { echo "build-guest: $*" >&2; }
die() { echo "build-guest: error: $*" >&2; exit 1; }

# ---------------------------------------------------------------- cache check
if [ -z "${FORCE:-}" ] &&
   [ "$OUTDIR/vmlinuz" -nt "$SCRIPT" ] && [ "$OUTDIR/initramfs.gz" -nt "$SCRIPT" ]; then
    log "up to date: $OUTDIR/vmlinuz $OUTDIR/initramfs.gz"
    exit 0
fi

# ---------------------------------------------------------------- prerequisites
# (xz/zstd are needed only if the kernel package ships compressed modules.)
for tool in apt-get apt-cache dpkg dpkg-deb ldd gzip find; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done
[ -x "$BUSYBOX" ] || die "$BUSYBOX missing (apt-get install busybox-static)"
if ldd "$BUSYBOX" >/dev/null 2>&1; then
    die "$BUSYBOX is dynamically linked; install busybox-static"
fi
[ -x "$QEMU_GA" ] || die "$QEMU_GA missing (apt-get install qemu-guest-agent)"

mkdir -p "$OUTDIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rsvault-guest.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ---------------------------------------------------------------- kernel
if [ -n "${KERNEL_DEB:-}" ]; then
    deb=$KERNEL_DEB
else
    # linux-image-amd64 is a metapackage; the real one is its dependency,
    # e.g. linux-image-6.1.0-NN-amd64.
    pkg=$(apt-cache depends linux-image-amd64 |
          awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
    [ -n "$pkg" ] || die "cannot resolve linux-image-amd64 (apt-get update?)"
    # (As root, apt warns that it downloads "unsandboxed" into a private temp
    # dir the _apt user cannot access: harmless.)
    log "downloading $pkg"
    (cd "$WORK" && apt-get download -q "$pkg" >&2)
    deb=$(echo "$WORK"/"$pkg"_*.deb)
    [ -f "$deb" ] || die "apt-get download $pkg produced no .deb"
fi
kpkg=$(dpkg-deb -f "$deb" Package)
kver=$(dpkg-deb -f "$deb" Version)
log "extracting $kpkg $kver"
dpkg -x "$deb" "$WORK/kernel"

vmlinuz=$(echo "$WORK"/kernel/boot/vmlinuz-*)
[ -f "$vmlinuz" ] || die "no /boot/vmlinuz-* in $deb"
krel=${vmlinuz##*/vmlinuz-}
moddir=$WORK/kernel/lib/modules/$krel
[ -d "$moddir" ] || moddir=$WORK/kernel/usr/lib/modules/$krel
[ -d "$moddir" ] || die "no /lib/modules/$krel in $deb"

# ---------------------------------------------------------------- initramfs tree
ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,data,etc/qemu/fsfreeze-hook.d,lib/modules,var/log}
ln -s ../run "$ROOT/var/run"
chmod 1777 "$ROOT/tmp"

# busybox and one symlink per applet, at the paths busybox itself reports.
cp "$BUSYBOX" "$ROOT/bin/busybox"
"$BUSYBOX" --list-full | while read -r applet; do
    [ -e "$ROOT/$applet" ] || [ -L "$ROOT/$applet" ] && continue
    mkdir -p "$ROOT/$(dirname "$applet")"
    ln -s /bin/busybox "$ROOT/$applet"
done

# qemu-ga and every shared library ldd lists, including the dynamic loader,
# each at the path the loader will look for it.
copy_file() {  # copy_file HOSTPATH: copy to the same path under $ROOT (following links)
    mkdir -p "$ROOT/$(dirname "$1")"
    cp -L "$1" "$ROOT/$1"
}
copy_file "$QEMU_GA"
ldd "$QEMU_GA" | awk '
    $2 == "=>" && $3 ~ /^\// { print $3 }   # libfoo.so.1 => /lib/.../libfoo.so.1 (0x...)
    $1 ~ /^\//               { print $1 }   # /lib64/ld-linux-x86-64.so.2 (0x...)
' | sort -u | while read -r lib; do copy_file "$lib"; done
[ -n "$(find "$ROOT" -name 'ld-linux*' -print -quit)" ] || die "dynamic loader not found by ldd"

# Kernel modules. Debian's .deb carries no modules.dep (depmod runs at install),
# so dependencies are read from each module's .modinfo section (depends=...).
declare -A MODFILE=() BUILTIN=() SEEN=()
while read -r f; do
    name=${f##*/}; name=${name%%.ko*}; name=${name//-/_}
    MODFILE[$name]=$f
done < <(find "$moddir" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')
if [ -f "$moddir/modules.builtin" ]; then
    while read -r f; do
        name=${f##*/}; name=${name%%.ko*}; BUILTIN[${name//-/_}]=1
    done < "$moddir/modules.builtin"
fi

module_plain() {  # module_plain NAME: print the module's uncompressed bytes
    local f=${MODFILE[$1]}
    case $f in
        *.ko.xz)  xz -dc "$f" ;;
        *.ko.zst) zstd -dcq "$f" ;;
        *.ko.gz)  gzip -dc "$f" ;;
        *)        cat "$f" ;;
    esac
}

LOAD_ORDER=()
add_module() {  # depth-first: dependencies land in LOAD_ORDER before the module
    local name=${1//-/_} deps dep
    [ -n "${SEEN[$name]:-}" ] && return
    SEEN[$name]=1
    if [ -z "${MODFILE[$name]:-}" ]; then
        [ -n "${BUILTIN[$name]:-}" ] && { log "module $name is built in"; return; }
        die "module $name neither found in $kpkg nor built in"
    fi
    deps=$(module_plain "$name" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n1)
    for dep in ${deps//,/ }; do add_module "$dep"; done
    module_plain "$name" > "$ROOT/lib/modules/$name.ko"
    LOAD_ORDER+=("$name")
}
for m in "${MODULES[@]}"; do add_module "$m"; done
printf '%s\n' "${LOAD_ORDER[@]}" > "$ROOT/lib/modules/load-order"
log "modules (load order): ${LOAD_ORDER[*]}"

# Minimal identity files (id, whoami, glib's user lookups).
echo 'root:x:0:0:root:/root:/bin/sh' > "$ROOT/etc/passwd"
echo 'root:x:0:'                     > "$ROOT/etc/group"
echo 'rsvault-guest'                 > "$ROOT/etc/hostname"
mkdir -p "$ROOT/root"
printf '%s %s\n' "$kpkg" "$kver" > "$ROOT/etc/rsvault-guest-kernel"

# fsfreeze hook: like Debian's /etc/qemu/fsfreeze-hook, runs every executable
# in fsfreeze-hook.d with qemu-ga's argument ("freeze" or "thaw"). Unlike
# Debian's bookworm script it exits non-zero if any hook failed, so qemu-ga
# fails the freeze (lets tests simulate a failing pre-snapshot script).
cat > "$ROOT/etc/qemu/fsfreeze-hook" <<'EOF'
#!/bin/sh
# Called by qemu-ga (-F/etc/qemu/fsfreeze-hook) with "freeze" before freezing
# and "thaw" after thawing. qemu-ga sends our stdout/stderr to /dev/null, so
# everything is logged to LOGFILE and to the console.
LOGFILE=/var/log/qga-fsfreeze-hook.log
FSFREEZE_D=/etc/qemu/fsfreeze-hook.d
log() { echo "rsvault-guest: fsfreeze-hook: $*" | tee -a "$LOGFILE" > /dev/console; }
status=0
for file in "$FSFREEZE_D"/*; do
    [ -f "$file" ] && [ -x "$file" ] || continue
    case $file in *~|*.bak|*.orig|*.sample|*.dpkg-*) continue ;; esac
    log "run $file $*"
    "$file" "$@" >> "$LOGFILE" 2>&1
    rc=$?
    log "$file $* exited $rc"
    [ $rc -eq 0 ] || status=$rc
done
exit $status
EOF
chmod 755 "$ROOT/etc/qemu/fsfreeze-hook"

cat > "$ROOT/init" <<'EOF'
#!/bin/sh
# rsvault test guest: PID 1. Never exits (a PID 1 exit would panic the kernel).
export PATH=/sbin:/usr/sbin:/bin:/usr/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755 tmpfs /run
# The initramfs has no /dev/console node, so the kernel could not give us one.
exec < /dev/console > /dev/console 2>&1
say() { echo "rsvault-guest: $*"; }
say "init started (kernel $(uname -r))"
hostname -F /etc/hostname

while read -r m; do
    insmod "/lib/modules/$m.ko" || say "insmod $m failed"
done < /lib/modules/load-order

# No udev: create the /dev/virtio-ports/NAME links ourselves. Port names arrive
# asynchronously from the host, so wait (up to ~10 s) for the agent's port.
GA_PORT=/dev/virtio-ports/org.qemu.guest_agent.0
mkdir -p /dev/virtio-ports
i=0
while [ ! -e "$GA_PORT" ] && [ $i -lt 100 ]; do
    for p in /sys/class/virtio-ports/vport*; do
        [ -r "$p/name" ] || continue
        name=$(cat "$p/name")
        [ -n "$name" ] && [ -e "/dev/${p##*/}" ] && ln -sf "../${p##*/}" "/dev/virtio-ports/$name"
    done
    [ -e "$GA_PORT" ] || { sleep 0.1; i=$((i + 1)); }
done
[ -e "$GA_PORT" ] || say "warning: $GA_PORT not found (no -device virtserialport,name=org.qemu.guest_agent.0?)"

# The test disk: one virtio-blk disk holding ext4 (whole disk, or partition 1).
i=0
while [ ! -b /dev/vda ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
if [ -b /dev/vda ]; then
    if mount -t ext4 /dev/vda /data 2>/dev/null || mount -t ext4 /dev/vda1 /data; then
        say "mounted /dev/vda at /data"
    else
        say "warning: could not mount /dev/vda as ext4"
    fi
else
    say "no /dev/vda; /data stays on the initramfs"
fi

# Test-provided fsfreeze hooks and /etc/azure, from the disk.
mkdir -p /etc/qemu/fsfreeze-hook.d
if [ -d /data/.guest-hooks ]; then
    for h in /data/.guest-hooks/*; do
        [ -f "$h" ] || continue
        cp "$h" /etc/qemu/fsfreeze-hook.d/ && chmod 755 "/etc/qemu/fsfreeze-hook.d/${h##*/}"
        say "installed fsfreeze hook ${h##*/}"
    done
fi
[ -d /data/etc-azure ] && ln -sfn /data/etc-azure /etc/azure

# qemu-ga in the foreground; restarted if it ever exits. No -b/--block-rpcs
# and no /etc/qemu/qemu-ga.conf, so every RPC is allowed.
while :; do
    say "qemu-ga started"
    qemu-ga -m virtio-serial -p "$GA_PORT" -F/etc/qemu/fsfreeze-hook \
        -t /run -f /run/qemu-ga.pid -l /var/log/qemu-ga.log
    say "qemu-ga exited with status $?; restarting in 1 s"
    sleep 1
done
EOF
chmod 755 "$ROOT/init"

# ---------------------------------------------------------------- outputs
log "packing initramfs"
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort |
    "$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -9n > "$OUTDIR/initramfs.gz.tmp"
cp "$vmlinuz" "$OUTDIR/vmlinuz.tmp"
printf 'kernel_package=%s\nkernel_version=%s\nkernel_release=%s\nmodules=%s\n' \
    "$kpkg" "$kver" "$krel" "${LOAD_ORDER[*]}" > "$OUTDIR/guest-info.txt"
mv -f "$OUTDIR/vmlinuz.tmp" "$OUTDIR/vmlinuz"
mv -f "$OUTDIR/initramfs.gz.tmp" "$OUTDIR/initramfs.gz"
log "done: $OUTDIR/vmlinuz ($krel) $OUTDIR/initramfs.gz ($(du -h "$OUTDIR/initramfs.gz" | cut -f1))"
