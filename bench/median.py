#!/usr/bin/env python3
"""Median of several bench/run.sh results.tsv files, row by row.

usage: median.py RESULTS.tsv [RESULTS.tsv ...] > MEDIAN.tsv
Each (tool, step) row takes the median of every numeric column over the runs
that have it; the output has the same columns, so summarize.py reads it.
"""
import statistics
import sys


def main(paths):
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    header = None
    rows = {}
    order = []
    for p in paths:
        with open(p) as f:
            lines = [l.rstrip("\n").split("\t") for l in f if l.strip()]
        if header is None:
            header = lines[0]
        elif lines[0] != header:
            sys.exit(f"{p}: columns differ from the first file")
        for r in lines[1:]:
            key = (r[0], r[1])
            if key not in rows:
                rows[key] = []
                order.append(key)
            rows[key].append(r)
    print("\t".join(header))
    for key in order:
        runs = rows[key]
        out = list(key)
        for i in range(2, len(header)):
            vals = [r[i] for r in runs if i < len(r) and r[i] != ""]
            try:
                nums = [float(v) for v in vals]
            except ValueError:
                out.append(vals[0] if vals else "")
                continue
            if not nums:
                out.append("")
                continue
            m = statistics.median(nums)
            out.append(f"{m:.2f}" if any("." in v for v in vals) else str(int(round(m))))
        print("\t".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
