#!/usr/bin/env python3
"""Check changed_ranges.py against the real mutate.py by byte diff.

usage: check_changed_ranges.py [MUTATE_PY]   (default: ../shared/bench/mutate.py
       found beside this repo, or $SHARED_BENCH/mutate.py)

For a few sizes, percents and seeds: fill a test image with random bytes, copy
it, run mutate.py on the copy, diff the two byte by byte, and check that
  * every differing byte lies inside a range changed_ranges.py prints,
  * the ranges cover no more than the bytes mutate.py writes (budget rounded
    down to whole 4 KiB scattered writes), and
  * nearly all covered bytes really differ (random over random differs in
    255 of 256 bytes), so the ranges are not merely a loose superset.
Exits non-zero on any failure.
"""
import bisect
import os
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.dont_write_bytecode = True
import changed_ranges  # noqa: E402


def find_mutate():
    if len(sys.argv) > 1:
        return sys.argv[1]
    for d in (os.environ.get("SHARED_BENCH"), os.path.join(here, "..", "..", "shared", "bench")):
        if d and os.path.exists(os.path.join(d, "mutate.py")):
            return os.path.join(d, "mutate.py")
    sys.exit("mutate.py not found: pass its path or set SHARED_BENCH")


def diff_positions(a_path, b_path, block=1 << 16):
    """Sorted list of (start, end) runs of differing bytes."""
    runs = []
    with open(a_path, "rb") as a, open(b_path, "rb") as b:
        base = 0
        while True:
            x, y = a.read(block), b.read(block)
            if not x and not y:
                break
            if x != y:
                for i in range(max(len(x), len(y))):
                    if i >= len(x) or i >= len(y) or x[i] != y[i]:
                        p = base + i
                        if runs and runs[-1][1] == p:
                            runs[-1][1] = p + 1
                        else:
                            runs.append([p, p + 1])
            base += block
    return runs


def check(mutate, size, pct, seed, tmp):
    orig, mut = os.path.join(tmp, "orig.raw"), os.path.join(tmp, "mut.raw")
    with open(orig, "wb") as f:
        f.write(os.urandom(size))
    shutil.copyfile(orig, mut)
    args = [sys.executable, mutate, mut]
    if pct is not None:
        args.append(str(pct))
        if seed is not None:
            args.append(str(seed))
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    # the CLI, as run.sh uses it (from the image path, after the mutation)
    cli = [sys.executable, os.path.join(here, "changed_ranges.py"), mut]
    cli += args[3:]                      # same PERCENT [SEED] as mutate.py got
    out = subprocess.run(cli, check=True, capture_output=True, text=True).stdout
    ranges = [tuple(map(int, l.split())) for l in out.splitlines()]
    budget = int(size * (pct if pct is not None else 1.0) / 100)
    written = (budget // 5 // 4096) * 4096 + (budget - budget // 5)
    covered = sum(n for _, n in ranges)
    diffs = diff_positions(orig, mut)
    differing = sum(e - s for s, e in diffs)
    # every differing run inside one range (ranges are merged, so a run
    # can't straddle two of them)
    starts = [o for o, _ in ranges]
    outside = 0
    for s, e in diffs:
        i = bisect.bisect_right(starts, s) - 1
        if i < 0 or e > ranges[i][0] + ranges[i][1]:
            outside += e - s
    ok = outside == 0 and covered <= written and differing >= 0.99 * covered and covered > 0
    print(f"{'ok  ' if ok else 'FAIL'} size {size} pct {pct} seed {seed}: "
          f"budget {budget}, ranges {len(ranges)} covering {covered}, "
          f"differing bytes {differing} ({differing / max(covered, 1):.4f} of covered), "
          f"outside ranges {outside}")
    return ok


def main():
    mutate = find_mutate()
    cases = [
        (16 << 20, None, None),        # defaults: 1 %, seed 7
        (64 << 20, None, None),
        (64 << 20, 3.0, 11),
        (48 << 20, 0.5, 1),
        ((32 << 20) + 12345, 2.0, 99),  # size not a multiple of 4 KiB
    ]
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for size, pct, seed in cases:
            ok &= check(mutate, size, pct, seed, tmp)
    print("all ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
