#!/usr/bin/env bash
# Side-by-side benchmark of rsvault against restic, borg and rustic (run by the
# shared reference script peers.sh) and the `cp --sparse=always` + `sync` floor,
# on one VM disk image, in one run on one machine.  See bench/README.md.
#
# usage: bench/run.sh IMAGE WORKDIR [--quick]
#   IMAGE    raw disk image; made with mkimage.sh (4G) if it doesn't exist
#            (--quick: a 512M image of fewer files).  Never modified.
#   WORKDIR  scratch directory (several GB); results.tsv, summary.md and logs
#            are left there, the big files are removed at the end.
#   --quick  512M image, 8G RSS-scaling image: a smoke test, not a benchmark.
# environment:
#   RSVAULT_BIN   rsvault binary (default ${CARGO_TARGET_DIR:-REPO/target}/release/rsvault,
#                 built with cargo if missing)
#   SHARED_BENCH  directory of mkimage.sh, mutate.py, peers.sh, if not at
#                 REPO/../shared/bench
#   PEERS         peers to run (default "restic borg rustic"; "none" for none);
#                 missing ones are skipped and reported
#   IMAGE_SIZE    size of a new IMAGE (default 4G, --quick 512M)
#   BIG_SIZE      size of the RSS-scaling image (default 64G, --quick 8G)
#   KEEP=1        keep the big files (disk copies, stores, repos, restores)
# stdout: the TSV table (also WORKDIR/results.tsv), then the markdown summary
# (also WORKDIR/summary.md).  Progress goes to stderr.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] || usage
img=$1 work=$2; shift 2
quick=0
for a in "$@"; do
  case $a in
    --quick) quick=1 ;;
    *) usage ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
if [ -f "$here/../../shared/bench/peers.sh" ]; then
  shared=$(cd "$here/../../shared/bench" && pwd)
elif [ -n "${SHARED_BENCH:-}" ] && [ -f "$SHARED_BENCH/peers.sh" ]; then
  shared=$(cd "$SHARED_BENCH" && pwd)
else
  echo "run.sh: shared bench scripts not found at $here/../../shared/bench; set SHARED_BENCH" >&2
  exit 2
fi

if [ $quick = 1 ]; then
  image_size=${IMAGE_SIZE:-512M} big_size=${BIG_SIZE:-8G}
else
  image_size=${IMAGE_SIZE:-4G} big_size=${BIG_SIZE:-64G}
fi

say() { printf '[run.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'run.sh: FAILED: %s\n' "$*" >&2; exit 1; }

for c in python3 cmp du bc cp truncate sync mkfs.ext4; do
  command -v "$c" >/dev/null || die "needs $c"
done
[ -x /usr/bin/time ] || die "needs GNU time at /usr/bin/time (apt-get install time)"

# --- rsvault binary -----------------------------------------------------------
bin=${RSVAULT_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/rsvault}
if [ ! -x "$bin" ]; then
  [ -z "${RSVAULT_BIN:-}" ] || die "RSVAULT_BIN=$RSVAULT_BIN is not executable"
  say "building rsvault (cargo build --release -p rsvault)"
  (cd "$repo" && (. scripts/common.sh && ensure_build_deps) && cargo build --release -p rsvault >&2)
  [ -x "$bin" ] || die "no binary at $bin after cargo build"
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
say "rsvault: $bin ($("$bin" --version 2>/dev/null || echo '?'), built $(date -r "$bin" '+%F %T'))"

# --- peers --------------------------------------------------------------------
want=${PEERS:-restic borg rustic}
[ "$want" = none ] && want=
present=() missing=()
for p in $want; do
  if command -v "$p" >/dev/null; then present+=("$p"); else missing+=("$p"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ $quick = 1 ]; then
    say "peers missing, skipped: ${missing[*]}"
  else
    say "WARNING: peers missing, the ratios will be against ${present[*]:-no peer} only: ${missing[*]}"
  fi
fi

# --- image --------------------------------------------------------------------
mk_quick_image() { # OUT SIZE: like mkimage.sh, but only as many files as fit comfortably
  local out=$1 size=$2 stage cap total=0 d s
  stage=$(mktemp -d)
  cap=$(( $(numfmt --from=iec "$size") * 45 / 100 / 1024 ))     # KiB of files: 45 % of the disk
  mkdir -p "$stage/root/usr/share"
  for d in /usr/bin /usr/share/*; do
    [ -d "$d" ] || continue
    s=$(du -sk "$d" 2>/dev/null | cut -f1) || continue
    [ $((total + s)) -le "$cap" ] || continue
    if [ "$d" = /usr/bin ]; then cp -a "$d" "$stage/root/usr/" 2>/dev/null || true
    else cp -a "$d" "$stage/root/usr/share/" 2>/dev/null || true; fi
    total=$((total + s))
  done
  rm -f "$out"
  truncate -s "$size" "$out"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -d "$stage/root" "$out" || { rm -rf "$stage"; return 1; }
  rm -rf "$stage"
}
if [ ! -e "$img" ]; then
  mkdir -p "$(dirname "$img")"
  if [ $quick = 1 ]; then
    say "making $img ($image_size, quick: a subset of /usr)"
    mk_quick_image "$img" "$image_size"
  else
    say "making $img with mkimage.sh ($image_size)"
    "$shared/mkimage.sh" "$img" "$image_size"
  fi
fi
img=$(cd "$(dirname "$img")" && pwd)/$(basename "$img")
img_bytes=$(stat -c %s "$img")
img_alloc=$(( $(stat -c %b "$img") * $(stat -c %B "$img") ))
big_bytes=$(numfmt --from=iec "$big_size")
[ "$big_bytes" -ge "$img_bytes" ] || die "BIG_SIZE $big_size is smaller than the image"
say "image $img: $img_bytes bytes, $img_alloc allocated"

# --- work directory -------------------------------------------------------------
mkdir -p "$work"
work=$(cd "$work" && pwd)
rw=$work/rsvault        # rsvault's scratch
pw=$work/peers          # peers.sh's scratch
logs=$work/logs
rm -rf "$rw" "$pw" "$logs" "$work/floor.raw"
mkdir -p "$rw" "$pw" "$logs"
cleanup() {
  [ "${KEEP:-0}" = 1 ] && return 0
  rm -rf "$work/floor.raw" "$rw/disk.raw" "$rw/restore.raw" "$rw/big.raw" \
         "$rw/store-a" "$rw/store-b" "$rw/store-big" \
         "$pw/disk.raw" "$pw"/*-repo "$pw"/*-cache "$pw"/*-restore "$pw/borg-home" 2>/dev/null || true
}
trap cleanup EXIT

results=$work/results.tsv
stats=$work/rsvault-stats.tsv
printf 'tool\tstep\twall_s\tcpu_s\tmaxrss_kb\trepo_bytes\tadded_bytes\n' >"$results"
printf 'step\tbytes_read\tbytes_new\tbytes_stored\tchunks_new\tchunks_reused\tchunks_zero\n' >"$stats"

# T TOOL STEP STORE ADDED_BASE CMD...: run CMD under /usr/bin/time, stdout to
# logs/TOOL.STEP.out, stderr to logs/TOOL.STEP.err; append a results row with
# du -sb STORE ("-" for none) and, when ADDED_BASE is a number, the store
# growth since then.
T() {
  local tool=$1 step=$2 store=$3 base=$4 wall user sys rss bytes=
  shift 4
  say "$tool $step"
  if ! /usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" "$@" \
       >"$logs/$tool.$step.out" 2>"$logs/$tool.$step.err"; then
    tail -20 "$logs/$tool.$step.err" >&2
    die "$tool $step: $* (logs in $logs)"
  fi
  read -r wall user sys rss <"$work/time.txt"
  [ "$store" = - ] || bytes=$(du -sb "$store" | cut -f1)
  local added=
  [[ $base =~ ^[0-9]+$ ]] && added=$((bytes - base))
  printf '%s\t%s\t%s\t%.2f\t%s\t%s\t%s\n' "$tool" "$step" "$wall" \
    "$(echo "$user + $sys" | bc)" "$rss" "$bytes" "$added" >>"$results"
}
# stats STEP: the engine's own counts from logs/rsvault.STEP.out (backup --json)
stats() {
  python3 - "$logs/rsvault.$1.out" "$1" >>"$stats" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))["stats"]
print("\t".join([sys.argv[2]] + [str(s.get(k, "")) for k in
      ("bytes_read", "bytes_new", "bytes_stored", "chunks_new", "chunks_reused", "chunks_zero")]))
EOF
}

# --- floor: cp --sparse=always + sync -------------------------------------------
# Copy once untimed first (rsvault's own disk copy), so the floor, like every
# tool's backup, reads the image from a warm page cache.
cp --sparse=always "$img" "$rw/disk.raw"
sync
T cp+sync full - - sh -c 'cp --sparse=always "$1" "$2" && sync' sh "$img" "$work/floor.raw"
rm -f "$work/floor.raw"

# --- rsvault --------------------------------------------------------------------
# Same steps as peers.sh: copy + sync, init, full backup, mutate.py, incremental,
# restore, cmp.  For the incremental with a changed list the store is copied
# right after the full backup (store-b = store-a at that moment), so both
# incrementals start from the same full point and back up the same mutated disk:
#   store-a: full -> incr (no list, reads the whole disk) -> restore -> verify
#   store-b: full -> incr_list (--changed-ranges from changed_ranges.py) -> restore
rv() { "$bin" disk "$@"; }
A=$rw/store-a B=$rw/store-b key=$rw/key
rm -f "$key"
T rsvault init "$A" - "$bin" disk init --store "$A" --key-file "$key"
T rsvault full "$A" - "$bin" disk backup --store "$A" --key-file "$key" --name vm --json "$rw/disk.raw"
stats full
cp -a "$A" "$B"
sync
python3 "$shared/mutate.py" "$rw/disk.raw" >"$logs/mutate.out"
# The changed list: the ranges mutate.py (seed 7, 1 %) writes, replayed from
# its RNG; only the disk size is an input.
python3 "$here/changed_ranges.py" "$rw/disk.raw" >"$rw/changed.txt" 2>"$logs/changed_ranges.err"
cat "$logs/changed_ranges.err" >&2
a0=$(du -sb "$A" | cut -f1) b0=$(du -sb "$B" | cut -f1)
T rsvault incr "$A" "$a0" "$bin" disk backup --store "$A" --key-file "$key" --name vm --json "$rw/disk.raw"
stats incr
T rsvault incr_list "$B" "$b0" "$bin" disk backup --store "$B" --key-file "$key" --name vm \
  --changed-ranges "$rw/changed.txt" --json "$rw/disk.raw"
stats incr_list
python3 - "$logs/rsvault.incr_list.out" <<'EOF' || die "incr_list did not use the changed ranges"
import json, sys
sys.exit(0 if json.load(open(sys.argv[1])).get("used_changed_ranges") else 1)
EOF

sync
T rsvault restore "$A" - "$bin" disk restore --store "$A" --key-file "$key" --name vm --point latest \
  --format raw --output "$rw/restore.raw"
cmp "$rw/disk.raw" "$rw/restore.raw" >&2 || die "rsvault restore (store-a, no-list point) differs from the mutated disk"
say "rsvault restore identical"
rm -f "$rw/restore.raw"; sync
T rsvault restore_nosync "$A" - "$bin" disk restore --store "$A" --key-file "$key" --name vm --point latest \
  --format raw --output "$rw/restore.raw" --no-sync
cmp "$rw/disk.raw" "$rw/restore.raw" >&2 || die "rsvault restore --no-sync differs from the mutated disk"
rm -f "$rw/restore.raw"; sync
# correctness of the changed-list point (untimed)
rv restore --store "$B" --key-file "$key" --name vm --point latest --output "$rw/restore.raw" --no-sync \
  >"$logs/rsvault.restore_list.out" 2>&1 || die "rsvault restore of the changed-list point"
cmp "$rw/disk.raw" "$rw/restore.raw" >&2 || die "rsvault restore of the changed-list point (store-b) differs from the mutated disk"
say "rsvault restores identical (both incrementals)"
rm -f "$rw/restore.raw"; sync
T rsvault verify "$A" - "$bin" disk verify --store "$A" --key-file "$key"
rm -rf "$B"

rm -f "$rw/disk.raw"

# RSS scaling: the image's content at the start of a BIG_SIZE sparse disk (the
# rest one hole), full backup into a fresh store; its peak RSS is compared with
# the full backup of the image above.
cp --sparse=always "$img" "$rw/big.raw"
truncate -s "$big_size" "$rw/big.raw"
sync
rv init --store "$rw/store-big" --key-file "$rw/key-big" >"$logs/rsvault.init_big.out" 2>&1
T rsvault full_big "$rw/store-big" - "$bin" disk backup --store "$rw/store-big" --key-file "$rw/key-big" \
  --name big --json "$rw/big.raw"
stats full_big
rm -rf "$rw/big.raw" "$rw/store-big" "$A"

# --- peers (shared/bench/peers.sh, one tool per call so one failure doesn't hide the others) ---
notes=()
for p in "${present[@]}"; do
  say "$p (peers.sh)"
  if ! "$shared/peers.sh" "$img" "$pw" "$p" >"$logs/peers.$p.out" 2>"$logs/peers.$p.err"; then
    cat "$logs/peers.$p.out" "$logs/peers.$p.err" >&2
    say "WARNING: peers.sh $p failed; its rows are left out"
    notes+=("$p: peers.sh FAILED (see logs/peers.$p.out)")
    continue
  fi
  grep -q "^# $p restore identical" "$logs/peers.$p.out" \
    || { say "WARNING: $p restore NOT identical"; notes+=("$p: restore NOT identical to the mutated disk"); }
  awk -F'\t' -v OFS='\t' 'NF == 6 && $1 != "tool" {
      if ($2 == "full") full = $6
      added = ($2 == "incr" && full != "" && $6 != "") ? sprintf("%.0f", $6 - full) : ""
      print $0, added }' "$logs/peers.$p.out" >>"$results"
  rm -rf "$pw/disk.raw" "$pw/$p-repo" "$pw/$p-cache" "$pw/$p-restore" "$pw/borg-home"
done
[ ${#missing[@]} -eq 0 ] || notes+=("peers missing (not measured): ${missing[*]}")
[ $quick = 0 ] || notes+=("--quick run: a smoke test, not a benchmark")

# --- report ---------------------------------------------------------------------
cat "$results"
echo
args=(--stats "$stats"
      --image "$(basename "$img"): $(numfmt --to=iec "$img_bytes") raw, $(numfmt --to=iec "$img_alloc") allocated; mutate.py default (1 %, seed 7)"
      --big "$(numfmt --to=iec "$big_bytes") sparse disk holding the same data (full_big row)")
for n in "${notes[@]}"; do args+=(--note "$n"); done
python3 "$here/summarize.py" "$results" "${args[@]}" | tee "$work/summary.md"
