#!/usr/bin/env python3
"""Markdown summary of a bench/run.sh results table, with the ratios rsvault
must meet against its peers (restic, borg, rustic) and the cp+sync floor.

usage: summarize.py RESULTS.tsv [--stats RSVAULT_STATS.tsv] [--image DESC]
                    [--big DESC] [--note TEXT]...

RESULTS.tsv columns: tool step wall_s cpu_s maxrss_kb repo_bytes added_bytes
  tool  cp+sync | rsvault | restic | borg | rustic | ...
  step  full | incr | incr_list | restore | restore_nosync | verify | full_big
        (cp+sync has only `full`: the floor)
Exit status 0 whether targets pass or not (1 only for unreadable input).
"""
import csv
import sys

PEER_STEPS = ("full", "incr", "restore")            # steps every peer has
RSVAULT_RSS_STEPS = ("full", "incr", "incr_list", "restore", "restore_nosync")


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def human(n):
    if n is None:
        return "–"
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000


def secs(s):
    return "–" if s is None else f"{s:.2f} s"


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 1
    path, rest = argv[0], argv[1:]
    stats_path, image, big, notes = None, None, None, []
    while rest:
        opt, val, rest = rest[0], rest[1] if len(rest) > 1 else "", rest[2:]
        if opt == "--stats":
            stats_path = val
        elif opt == "--image":
            image = val
        elif opt == "--big":
            big = val
        elif opt == "--note":
            notes.append(val)
        else:
            print(f"unknown option {opt}", file=sys.stderr)
            return 1

    rows = {}
    order = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            key = (r["tool"], r["step"])
            rows[key] = {
                "wall": num(r.get("wall_s")), "cpu": num(r.get("cpu_s")),
                "rss": num(r.get("maxrss_kb")), "repo": num(r.get("repo_bytes")),
                "added": num(r.get("added_bytes")),
            }
            if r["tool"] not in order:
                order.append(r["tool"])
    stats = {}
    if stats_path:
        try:
            with open(stats_path, newline="") as f:
                for r in csv.DictReader(f, delimiter="\t"):
                    stats[r["step"]] = {k: num(v) for k, v in r.items() if k != "step"}
        except OSError:
            pass

    def get(tool, step, field):
        return rows.get((tool, step), {}).get(field)

    peers = [t for t in order if t not in ("rsvault", "cp+sync")]

    def best_peer(step, field):
        """(tool, value) of the peer with the smallest value, or (None, None)."""
        vals = [(get(p, step, field), p) for p in peers if get(p, step, field) is not None]
        if not vals:
            return None, None
        v, p = min(vals)
        return p, v

    def peak_rss(tool, steps):
        vals = [get(tool, s, "rss") for s in steps if get(tool, s, "rss") is not None]
        return max(vals) if vals else None

    out = []
    w = out.append
    w("## rsvault side-by-side benchmark")
    w("")
    if image:
        w(f"- image: {image}")
    if big:
        w(f"- RSS scaling image: {big}")
    w(f"- peers measured: {', '.join(peers) if peers else 'none'}")
    for n in notes:
        w(f"- {n}")
    w("")
    w("| tool | full backup | incremental | incr. with changed list | bytes added by incr. | restore | peak RSS |")
    w("| --- | --- | --- | --- | --- | --- | --- |")
    for t in order:
        if t == "cp+sync":
            continue
        steps = RSVAULT_RSS_STEPS if t == "rsvault" else PEER_STEPS
        rss = peak_rss(t, steps)
        restore = secs(get(t, "restore", "wall"))
        if t == "rsvault" and get(t, "restore_nosync", "wall") is not None:
            restore += f" ({secs(get(t, 'restore_nosync', 'wall'))} --no-sync)"
        added = human(get(t, "incr", "added"))
        if t == "rsvault" and get(t, "incr_list", "added") is not None:
            added += f" ({human(get(t, 'incr_list', 'added'))} with list)"
        w(f"| {t} | {secs(get(t, 'full', 'wall'))} | {secs(get(t, 'incr', 'wall'))} | "
          f"{secs(get(t, 'incr_list', 'wall')) if t == 'rsvault' else ''} | {added} | {restore} | "
          f"{human(rss * 1024) if rss else '–'} |")
    if ("cp+sync", "full") in rows:
        w(f"| `cp --sparse=always` + `sync` (floor) | {secs(get('cp+sync', 'full', 'wall'))} | | | | | |")
    w("")

    checks = []   # (label, rsvault value str, reference str, ratio, target)

    def ratio_check(label, num_v, num_s, ref_tool, ref_v, ref_s, target):
        r = num_v / ref_v if num_v is not None and ref_v else None
        ref = f"{ref_tool} {ref_s}" if ref_tool and ref_v is not None else "n/a"
        checks.append((label, num_s if num_v is not None else "n/a", ref, r, target))

    p, v = best_peer("full", "wall")
    ratio_check("full backup / fastest peer full", get("rsvault", "full", "wall"),
                secs(get("rsvault", "full", "wall")), p, v, secs(v), 0.5)
    fl = get("cp+sync", "full", "wall")
    ratio_check("full backup / cp+sync floor", get("rsvault", "full", "wall"),
                secs(get("rsvault", "full", "wall")), "cp+sync" if fl is not None else None, fl, secs(fl), 2.0)
    p, v = best_peer("incr", "wall")
    ratio_check("incremental (no list) / fastest peer incr", get("rsvault", "incr", "wall"),
                secs(get("rsvault", "incr", "wall")), p, v, secs(v), 0.5)
    ratio_check("incremental with changed list / fastest peer incr", get("rsvault", "incr_list", "wall"),
                secs(get("rsvault", "incr_list", "wall")), p, v, secs(v), 0.1)
    p, v = best_peer("incr", "added")
    ratio_check("bytes added by incremental / smallest peer's", get("rsvault", "incr", "added"),
                human(get("rsvault", "incr", "added")), p, v, human(v), 0.5)
    p, v = best_peer("restore", "wall")
    ratio_check("restore (with fsync) / fastest peer restore", get("rsvault", "restore", "wall"),
                secs(get("rsvault", "restore", "wall")), p, v, secs(v), 0.5)
    leanest = [(peak_rss(q, PEER_STEPS), q) for q in peers if peak_rss(q, PEER_STEPS)]
    lv, lp = min(leanest) if leanest else (None, None)
    mine = peak_rss("rsvault", RSVAULT_RSS_STEPS)
    ratio_check("peak RSS / leanest peer's peak RSS", mine, human(mine * 1024) if mine else "n/a",
                lp, lv, human(lv * 1024) if lv else "n/a", 1.0)
    big_rss, small_rss = get("rsvault", "full_big", "rss"), get("rsvault", "full", "rss")
    ratio_check("full-backup RSS, big image / image", big_rss, human(big_rss * 1024) if big_rss else "n/a",
                "rsvault full", small_rss, human(small_rss * 1024) if small_rss else "n/a", 1.5)

    w("| check | rsvault | against | ratio | target | result |")
    w("| --- | --- | --- | --- | --- | --- |")
    passed = total = 0
    for label, mine_s, ref, r, target in checks:
        if r is None:
            res, rs = "n/a", "–"
        else:
            total += 1
            ok = r <= target
            passed += ok
            res, rs = ("PASS" if ok else "FAIL"), f"{r:.2f}"
        w(f"| {label} | {mine_s} | {ref} | {rs} | ≤ {target:g} | {res} |")
    w("")
    w(f"**{passed} of {total} checked targets met**"
      + (f" ({len(checks) - total} not checkable: missing peer or step)" if total < len(checks) else ""))
    w("")

    # informational lines
    info = []
    rn, rr = get("rsvault", "restore_nosync", "wall"), best_peer("restore", "wall")
    if rn is not None and rr[1]:
        info.append(f"restore --no-sync / fastest peer restore: {rn / rr[1]:.2f} "
                    "(peers do not fsync their restores)")
    for s in ("full", "incr", "incr_list", "full_big"):
        st = stats.get(s)
        if st:
            info.append(f"rsvault {s}: read {human(st.get('bytes_read'))}, new {human(st.get('bytes_new'))}, "
                        f"stored {human(st.get('bytes_stored'))} (engine's own count)")
    for t in order:
        c, wl = get(t, "full", "cpu"), get(t, "full", "wall")
        if t != "cp+sync" and c is not None and wl:
            info.append(f"{t} full backup CPU: {c:.2f} s ({c / wl:.2f} cores)")
    if get("rsvault", "verify", "wall") is not None:
        info.append(f"rsvault verify: {secs(get('rsvault', 'verify', 'wall'))}, "
                    f"RSS {human(get('rsvault', 'verify', 'rss') * 1024)}")
    if info:
        w("Other numbers:")
        w("")
        for line in info:
            w(f"- {line}")
        w("")
    sys.stdout.write("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
