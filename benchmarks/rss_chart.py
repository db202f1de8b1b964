#!/usr/bin/env python3
"""Resident set over time of one program under several allocators: samples, table, PNG.

    rss_chart.py --out OUT.png --csv OUT.csv --title T --labels a=A,b=B NAME=SO... -- CMD...

Runs CMD once per allocator NAME with LD_PRELOAD=SO (empty: the system's malloc), reads
/proc/PID/status (VmRSS) every 10 ms until it exits, and reads the phase marks CMD prints on
stdout ("phase <name> <ms>", see rss_phases.c). Prints per allocator the peak, when its last
phase (the program's rest) began, and the RSS at the end; writes every sample to the CSV and
draws one line per allocator, with a tick of its colour where its last phase began (standard
library only: report.py's PNG canvas).
"""
import argparse
import csv
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import PALETTE, Canvas  # noqa: E402


def vm_rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def sample(cmd, so):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if so:
        env["LD_PRELOAD"] = so
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    samples = []
    while p.poll() is None:
        kb = vm_rss_kb(p.pid)
        if kb is not None:
            samples.append(((time.monotonic() - t0) * 1000.0, kb))
        time.sleep(0.01)
    out = p.stdout.read()
    if p.returncode != 0:
        raise SystemExit("rss_chart: %s exited with status %d" % (" ".join(cmd), p.returncode))
    phases = [(float(w[2]), w[1]) for w in (l.split() for l in out.splitlines())
              if len(w) == 3 and w[0] == "phase"]
    return samples, phases


def draw(path, title, runs, labels, rests):
    width, right, bottom = 1000, 30, 60
    tmax = max(t for s in runs.values() for t, _ in s) or 1.0
    vmax = max(kb for s in runs.values() for _, kb in s) / 1024.0 * 1.05 or 1.0
    legend, x, row, left = [], 90, 0, 90
    for i, name in enumerate(runs):
        w = 22 + Canvas.text_width(labels.get(name, name)) + 24
        if x + w > width - right and x > left:
            x, row = left, row + 1
        legend.append((x, 45 + row * 24, i, labels.get(name, name)))
        x += w
    top = 90 + row * 24
    height = top + 430
    cv = Canvas(width, height)
    cv.text(left, 15, title, scale=2)
    for x, y, i, lab in legend:
        cv.rect(x, y, x + 16, y + 16, PALETTE[i % len(PALETTE)])
        cv.text(x + 22, y + 2, lab, scale=2)
    base = height - bottom

    def px(t):
        return left + int(t / tmax * (width - left - right))

    def py(mib):
        return base - int(mib / vmax * (base - top))

    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000) if vmax / s <= 8)
    for v in range(0, int(vmax) + 1, step):
        cv.rect(left, py(v), width - right, py(v) + 1, (225, 225, 225))
        lab = "%d" % v
        cv.text(left - 10 - Canvas.text_width(lab), py(v) - 7, lab, scale=2)
    cv.text(10, top - 24, "RSS MIB", scale=2)
    for s in range(0, int(tmax / 1000) + 1):
        cv.text(px(s * 1000) - 4, base + 10, "%ds" % s, scale=2)
    cv.rect(left - 1, top, left, base + 1, (0, 0, 0))
    cv.rect(left - 1, base, width - right, base + 1, (0, 0, 0))
    for i, (name, s) in enumerate(runs.items()):
        c = PALETTE[i % len(PALETTE)]
        if rests.get(name) is not None:
            cv.rect(px(rests[name]) - 1, base - 14, px(rests[name]) + 2, base, c)
        prev = None
        for t, kb in s:
            pt = (px(t), py(kb / 1024.0))
            if prev is not None:
                x0, x1 = sorted((prev[0], pt[0]))
                cv.rect(x0, prev[1] - 1, x1 + 1, prev[1] + 2, c)
                y0, y1 = sorted((prev[1], pt[1]))
                cv.rect(pt[0] - 1, y0, pt[0] + 2, y1 + 1, c)
            prev = pt
    cv.png(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--title", default="RSS over time")
    ap.add_argument("--labels", default="")
    ap.add_argument("rest", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    if "--" not in args.rest:
        ap.error("want NAME=SO... -- CMD...")
    cut = args.rest.index("--")
    allocs = [a.split("=", 1) for a in args.rest[:cut]]
    cmd = args.rest[cut + 1:]
    labels = dict(kv.split("=", 1) for kv in args.labels.split(",") if "=" in kv)
    runs, rests = {}, {}
    for name, so in allocs:
        runs[name], phases = sample(cmd, so)
        rests[name] = phases[-1][0] if phases else None
    with open(args.csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["allocator", "ms", "rss_kb"])
        for name, s in runs.items():
            for t, kb in s:
                w.writerow([name, "%.0f" % t, kb])
    print("%-26s %10s %10s %10s" % ("allocator", "peak MiB", "rest at s", "end MiB"))
    for name, s in runs.items():
        rest = "%.2f" % (rests[name] / 1000.0) if rests[name] is not None else "-"
        print("%-26s %10.1f %10s %10.1f" % (labels.get(name, name), max(kb for _, kb in s) / 1024.0,
                                             rest, s[-1][1] / 1024.0))
    draw(args.out, args.title, runs, labels, rests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
