#!/usr/bin/env python3
"""Summarise scripts/bench_real's raw results as a table (standard library only).

    report_real.py RAW_CSV [--allocators a,b,c] [--labels a=A,b=B] [--reference hakmem]

RAW_CSV has one row per run:
    rep,program,allocator,status,seconds,maxrss_kb,throughput
(status "ok", or why the run failed; a failed run has no numbers). Per program and
allocator: the median wall time, the median peak RSS, the median over the repetitions of the
time divided by the reference's in the same repetition, and the median throughput where the
program reports one. A cell with any failed run is FAIL. Below the table, per allocator: the
sum of its median times, and the geometric mean over the programs of the reference's time
divided by its time.
"""
import argparse
import csv
import math
import os
import statistics
import sys
from collections import OrderedDict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from report import fmt_rate, ratio  # noqa: E402  (the synthetic table's, same semantics)


def summarise(rows, allocators):
    """-> OrderedDict[program] -> {allocator: cell}"""
    runs = OrderedDict()
    for r in rows:
        runs.setdefault(r["program"], {}).setdefault(r["allocator"], []).append(r)
    out = OrderedDict()
    for prog, per_alloc in runs.items():
        out[prog] = {}
        for a in allocators:
            rs = per_alloc.get(a)
            if not rs:
                continue
            ok = [r for r in rs if r["status"] == "ok"]
            failed = [r["status"] for r in rs if r["status"] != "ok"]
            tput = [float(r["throughput"]) for r in ok if r["throughput"]]
            out[prog][a] = {
                "runs": len(rs),
                "failed": failed,
                "by_rep": {r["rep"]: float(r["seconds"]) for r in ok},
                "secs": statistics.median(float(r["seconds"]) for r in ok) if ok else None,
                "rss_kb": statistics.median(float(r["maxrss_kb"]) for r in ok) if ok else None,
                "tput": statistics.median(tput) if tput else None,
            }
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--allocators", default="")
    ap.add_argument("--labels", default="")
    ap.add_argument("--reference", default="hakmem")
    args = ap.parse_args()

    with open(args.raw, newline="") as f:
        rows = list(csv.DictReader(f))
    allocators = [a for a in args.allocators.split(",") if a] or list(
        OrderedDict.fromkeys(r["allocator"] for r in rows))
    labels = {a: a for a in allocators}
    labels.update(kv.split("=", 1) for kv in args.labels.split(",") if "=" in kv)
    summary = summarise(rows, allocators)
    refname = args.reference
    rlab = "time/" + refname

    lw = max([len("allocator")] + [len(labels[a]) for a in allocators])
    head = "%-8s %-*s %9s %9s %12s %12s" % ("program", lw, "allocator", "time s", "RSS MiB", rlab, "requests/s")
    print(head)
    print("-" * len(head))
    for prog, per in summary.items():
        ref = per.get(refname)
        for i, a in enumerate(allocators):
            c = per.get(a)
            name = prog if i == 0 else ""
            if c is None:
                print("%-8s %-*s %9s" % (name, lw, labels[a], "(not run)"))
                continue
            if c["failed"]:
                print("%-8s %-*s %9s  %s" % (name, lw, labels[a], "FAIL",
                                             "%d/%d runs: %s" % (len(c["failed"]), c["runs"],
                                                                 ", ".join(sorted(set(c["failed"]))))))
                continue
            r = ratio(c, ref)
            print("%-8s %-*s %9.3f %9.1f %12s %12s" % (
                name, lw, labels[a], c["secs"], c["rss_kb"] / 1024.0,
                "%.3f" % r if r is not None else "-",
                fmt_rate(c["tput"])))
        print()

    gmlab = "geomean %s/it" % refname
    print("%-8s %-*s %10s %20s" % ("all", lw, "allocator", "sum time s", gmlab))
    for a in allocators:
        cells = [per.get(a) for per in summary.values()]
        done = [c for c in cells if c is not None and not c["failed"]]
        total = "%.1f" % sum(c["secs"] for c in done) if len(done) == len(cells) else "FAIL"
        inv = [1.0 / r for r in (ratio(per.get(a), per.get(refname)) for per in summary.values())
               if r is not None]
        gm = "%.3f (%d)" % (math.exp(sum(map(math.log, inv)) / len(inv)), len(inv)) if inv else "-"
        print("%-8s %-*s %10s %20s" % ("", lw, labels[a], total, gm))
    print()
    print("time s: median wall time over the repetitions (lower is better). RSS MiB: median peak")
    print("        RSS (redis: the server's VmHWM). requests/s: redis-benchmark's, median.")
    print("%s: median over the repetitions of the allocator's time divided by %s's in the"
          % (rlab, refname))
    print("        same repetition: >1 = slower than %s, <1 = faster." % refname)
    print("geomean %s/it: geometric mean over the programs (how many in parentheses) of %s's"
          % (refname, refname))
    print("        time divided by the allocator's: <1 = %s is faster on average, >1 = slower."
          % refname)


if __name__ == "__main__":
    main()
