#!/usr/bin/env python3
"""Print the byte ranges that ../shared/bench/mutate.py writes, as a
changed-block list for `rsvault disk backup --changed-ranges FILE`.

usage: changed_ranges.py IMAGE|SIZE [PERCENT] [SEED] [--unmerged]

IMAGE|SIZE  the image mutate.py is (or was) run on, or its size in bytes
            (suffixes K, M, G, T = powers of 1024, as truncate(1) takes them).
            Only the size matters, so the list can be made before or after
            the mutation, from the image or from any copy of the same size.
PERCENT     default 1.0, as mutate.py
SEED        default 7, as mutate.py

Output: one `OFFSET LENGTH` line (decimal bytes) per range, sorted and with
overlapping/adjacent ranges coalesced (the contiguous run usually swallows a
few of the scattered 4 KiB writes).  --unmerged prints one line per write, in
mutate.py's write order (the contiguous run as a single line).
A summary goes to stderr.

mutate.py draws its offsets and its data from one random.Random(SEED); the
data calls (rng.randbytes) advance the generator too, so this replays every
call in the same order with the same arguments -- including generating and
discarding the same random bytes -- and records only where they would land.
"""
import os
import random
import re
import sys


def parse_size(s: str) -> int:
    m = re.fullmatch(r"(\d+)([KMGT]?)(i?B)?", s.strip(), re.IGNORECASE)
    if not m:
        raise ValueError(f"not a size: {s!r}")
    mult = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    return int(m.group(1)) * mult[m.group(2).upper()]


def mutate_writes(size: int, pct: float = 1.0, seed: int = 7):
    """(offset, length) of every write mutate.py makes, in its order."""
    rng = random.Random(seed)
    budget = int(size * pct / 100)
    scattered = budget // 5
    run = budget - scattered
    writes = []
    for _ in range(scattered // 4096):
        off = rng.randrange(0, size // 4096) * 4096
        rng.randbytes(4096)                       # mutate.py: f.write(rng.randbytes(4096))
        writes.append((off, 4096))
    start = rng.randrange(0, (size - run) // 4096) * 4096
    chunk = 1 << 20
    left = run
    while left > 0:                               # the run is written in 1 MiB pieces,
        n = min(chunk, left)                      # each drawing n random bytes
        rng.randbytes(n)
        left -= n
    if run > 0:
        writes.append((start, run))
    return writes, budget


def merge(writes):
    out = []
    for s, n in sorted(writes):
        e = s + n
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e - s) for s, e in out]


def main(argv):
    unmerged = "--unmerged" in argv
    args = [a for a in argv if a != "--unmerged"]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    target = args[0]
    size = os.path.getsize(target) if os.path.exists(target) else parse_size(target)
    pct = float(args[1]) if len(args) > 1 else 1.0
    seed = int(args[2]) if len(args) > 2 else 7
    writes, budget = mutate_writes(size, pct, seed)
    ranges = writes if unmerged else merge(writes)
    sys.stdout.write("".join(f"{o} {n}\n" for o, n in ranges))
    covered = sum(n for _, n in merge(writes))
    print(f"changed_ranges: size {size}, budget {budget}, {len(writes)} writes, "
          f"{len(ranges)} ranges printed, {covered} bytes covered", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
