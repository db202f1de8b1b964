#!/usr/bin/env python3
"""Summarise scripts/bench's raw results: table on stdout, CSV, PNG bar chart.

    report.py RAW_CSV --csv OUT.csv --png OUT.png [--allocators a,b,c] [--labels a=A,b=B]
              [--reference hakmem]

RAW_CSV has one row per run:
    rep,workload,threads,allocator,status,ops_per_sec,maxrss_kb,seconds
(status is "ok" or a failure description). For every (workload, threads, allocator) the
median over the successful repetitions is reported, with the peak RSS (median of the runs'
ru_maxrss) and the ratio of the throughput to the reference allocator's (hakmem when it was
run): the median of the per-repetition ratios. A cell with any failed run is shown as FAIL.

The PNG is written with the standard library only (zlib + a built-in 5x7 pixel font), so
the benchmark needs no plotting package.
"""
import argparse
import csv
import statistics
import struct
import sys
import zlib
from collections import OrderedDict

# --------------------------------------------------------------------------- summary


def load(path):
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            rows.append(r)
    return rows


def summarise(rows, allocators):
    """-> OrderedDict[(workload, threads)] -> {allocator: cell}"""
    cells = OrderedDict()
    for r in rows:
        key = (r["workload"], int(r["threads"]))
        cells.setdefault(key, {}).setdefault(r["allocator"], []).append(r)
    out = OrderedDict()
    for key, per_alloc in cells.items():
        out[key] = {}
        for a in allocators:
            runs = per_alloc.get(a)
            if not runs:
                continue
            ok = [r for r in runs if r["status"] == "ok"]
            failed = [r for r in runs if r["status"] != "ok"]
            cell = {
                "runs": len(runs),
                "failed": len(failed),
                "fail_reason": failed[0]["status"] if failed else "",
                "all": [float(r["ops_per_sec"]) for r in ok],
                "by_rep": {r["rep"]: float(r["ops_per_sec"]) for r in ok},
                "ops": statistics.median([float(r["ops_per_sec"]) for r in ok]) if ok else None,
                "rss_kb": statistics.median([float(r["maxrss_kb"]) for r in ok]) if ok else None,
            }
            out[key][a] = cell
    return out


def fmt_rate(x):
    if x is None:
        return "-"
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= div:
            return "%.3g%s" % (x / div, unit) if x / div < 100 else "%.0f%s" % (x / div, unit)
    return "%.3g" % x


def fmt_mib(kb):
    if kb is None:
        return "-"
    mib = kb / 1024.0
    return "%.1f" % mib if mib < 1000 else "%.0f" % mib


def ratio(cell, ref):
    """Median over the repetitions of cell / ref within each repetition: the runs of one
    repetition ran back to back, so the machine's drift (large on shared machines) cancels in
    each quotient, where a quotient of medians would carry it."""
    if cell is None or ref is None or cell.get("failed") or ref.get("failed"):
        return None
    pairs = [(v, ref["by_rep"][k]) for k, v in cell["by_rep"].items() if ref["by_rep"].get(k)]
    if not pairs:
        return None
    return statistics.median(v / r for v, r in pairs)


def print_table(summary, allocators, reference, labels):
    cw = 23
    rlab = "/" + reference[:6]
    head1 = "%-22s %3s" % ("workload", "T")
    head2 = "%-22s %3s" % ("", "")
    for a in allocators:
        head1 += " | " + labels[a][:cw].center(cw)
        head2 += " | " + ("%7s %7s %7s" % ("ops/s", "RSS MiB", rlab)).center(cw)
    print(head1)
    print(head2)
    print("-" * len(head1))
    for (w, t), per in summary.items():
        line = "%-22s %3d" % (w, t)
        ref = per.get(reference)
        for a in allocators:
            c = per.get(a)
            if c is None:
                s = "(not run)"
            elif c["failed"]:
                s = "FAIL %d/%d" % (c["failed"], c["runs"])
            else:
                r = ratio(c, ref)
                s = "%7s %7s %7s" % (fmt_rate(c["ops"]), fmt_mib(c["rss_kb"]),
                                     "%.2fx" % r if r is not None else "-")
            line += " | " + s.center(cw)
        print(line)
    print()
    print("ops/s: median throughput over the repetitions (higher is better; what an op is")
    print("       differs per workload, see BENCHMARKS.md). RSS MiB: median peak RSS of the run.")
    print("%s: median over the repetitions of this allocator's throughput divided by %s's in"
          % (rlab, reference))
    print("       the same repetition (>1 = faster than %s)." % reference)


def write_csv(path, summary, allocators, reference):
    with open(path, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["workload", "threads", "allocator", "median_ops_per_sec", "median_maxrss_kb",
                     "ratio_to_" + reference, "runs", "failed", "all_ops_per_sec"])
        for (w, t), per in summary.items():
            ref = per.get(reference)
            for a in allocators:
                c = per.get(a)
                if c is None:
                    continue
                r = ratio(c, ref)
                wr.writerow([w, t, a,
                             "%.0f" % c["ops"] if c["ops"] is not None else "",
                             "%.0f" % c["rss_kb"] if c["rss_kb"] is not None else "",
                             "%.4f" % r if r is not None else "",
                             c["runs"], c["failed"],
                             ";".join("%.0f" % x for x in c["all"])])


# --------------------------------------------------------------------------- PNG

# 5x7 font, uppercase only (lowercase is drawn as uppercase). Each glyph: 7 rows of 5 bits.
FONT = {
    "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
    "B": ["11110", "10001", "10001", "11110", "10001", "10001", "11110"],
    "C": ["01110", "10001", "10000", "10000", "10000", "10001", "01110"],
    "D": ["11110", "10001", "10001", "10001", "10001", "10001", "11110"],
    "E": ["11111", "10000", "10000", "11110", "10000", "10000", "11111"],
    "F": ["11111", "10000", "10000", "11110", "10000", "10000", "10000"],
    "G": ["01110", "10001", "10000", "10111", "10001", "10001", "01111"],
    "H": ["10001", "10001", "10001", "11111", "10001", "10001", "10001"],
    "I": ["01110", "00100", "00100", "00100", "00100", "00100", "01110"],
    "J": ["00111", "00010", "00010", "00010", "00010", "10010", "01100"],
    "K": ["10001", "10010", "10100", "11000", "10100", "10010", "10001"],
    "L": ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
    "M": ["10001", "11011", "10101", "10101", "10001", "10001", "10001"],
    "N": ["10001", "10001", "11001", "10101", "10011", "10001", "10001"],
    "O": ["01110", "10001", "10001", "10001", "10001", "10001", "01110"],
    "P": ["11110", "10001", "10001", "11110", "10000", "10000", "10000"],
    "Q": ["01110", "10001", "10001", "10001", "10101", "10010", "01101"],
    "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
    "S": ["01111", "10000", "10000", "01110", "00001", "00001", "11110"],
    "T": ["11111", "00100", "00100", "00100", "00100", "00100", "00100"],
    "U": ["10001", "10001", "10001", "10001", "10001", "10001", "01110"],
    "V": ["10001", "10001", "10001", "10001", "10001", "01010", "00100"],
    "W": ["10001", "10001", "10001", "10101", "10101", "10101", "01010"],
    "X": ["10001", "10001", "01010", "00100", "01010", "10001", "10001"],
    "Y": ["10001", "10001", "01010", "00100", "00100", "00100", "00100"],
    "Z": ["11111", "00001", "00010", "00100", "01000", "10000", "11111"],
    "0": ["01110", "10001", "10011", "10101", "11001", "10001", "01110"],
    "1": ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
    "2": ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
    "3": ["11111", "00010", "00100", "00010", "00001", "10001", "01110"],
    "4": ["00010", "00110", "01010", "10010", "11111", "00010", "00010"],
    "5": ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
    "6": ["00110", "01000", "10000", "11110", "10001", "10001", "01110"],
    "7": ["11111", "00001", "00010", "00100", "01000", "01000", "01000"],
    "8": ["01110", "10001", "10001", "01110", "10001", "10001", "01110"],
    "9": ["01110", "10001", "10001", "01111", "00001", "00010", "01100"],
    " ": ["00000"] * 7,
    ".": ["00000", "00000", "00000", "00000", "00000", "01100", "01100"],
    ",": ["00000", "00000", "00000", "00000", "01100", "00100", "01000"],
    ":": ["00000", "01100", "01100", "00000", "01100", "01100", "00000"],
    "=": ["00000", "00000", "11111", "00000", "11111", "00000", "00000"],
    "-": ["00000", "00000", "00000", "11111", "00000", "00000", "00000"],
    "_": ["00000", "00000", "00000", "00000", "00000", "00000", "11111"],
    "+": ["00000", "00100", "00100", "11111", "00100", "00100", "00000"],
    "/": ["00001", "00010", "00010", "00100", "01000", "01000", "10000"],
    "(": ["00010", "00100", "01000", "01000", "01000", "00100", "00010"],
    ")": ["01000", "00100", "00010", "00010", "00010", "00100", "01000"],
    "%": ["11001", "11010", "00010", "00100", "01000", "01011", "10011"],
    ">": ["01000", "00100", "00010", "00001", "00010", "00100", "01000"],
    "<": ["00010", "00100", "01000", "10000", "01000", "00100", "00010"],
    "?": ["01110", "10001", "00001", "00010", "00100", "00000", "00100"],
}

PALETTE = [(76, 114, 176), (221, 132, 82), (85, 168, 104), (196, 78, 82), (129, 114, 179),
           (147, 120, 96), (218, 139, 195), (140, 140, 140)]


class Canvas:
    def __init__(self, w, h, bg=(255, 255, 255)):
        self.w, self.h = w, h
        self.px = bytearray(bytes(bg) * (w * h))

    def rect(self, x0, y0, x1, y1, c):
        x0, x1 = max(0, min(x0, x1)), min(self.w, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.h, max(y0, y1))
        if x0 >= x1:
            return
        row = bytes(c) * (x1 - x0)
        for y in range(y0, y1):
            o = (y * self.w + x0) * 3
            self.px[o:o + len(row)] = row

    def text(self, x, y, s, c=(0, 0, 0), scale=2):
        for ch in s.upper():
            g = FONT.get(ch, FONT["?"])
            for ry, bits in enumerate(g):
                for rx, b in enumerate(bits):
                    if b == "1":
                        self.rect(x + rx * scale, y + ry * scale, x + (rx + 1) * scale,
                                  y + (ry + 1) * scale, c)
            x += 6 * scale
        return x

    @staticmethod
    def text_width(s, scale=2):
        return len(s) * 6 * scale

    def png(self, path):
        raw = bytearray()
        stride = self.w * 3
        for y in range(self.h):
            raw.append(0)
            raw += self.px[y * stride:(y + 1) * stride]

        def chunk(tag, data):
            return (struct.pack(">I", len(data)) + tag + data +
                    struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n")
            f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)))
            f.write(chunk(b"IDAT", zlib.compress(bytes(raw), 9)))
            f.write(chunk(b"IEND", b""))


def draw_chart(path, summary, allocators, reference, title, labels):
    """One panel per thread count; in each, a group of bars per workload, one bar per
    allocator, height = throughput relative to the reference allocator (log-free, capped)."""
    thread_counts = sorted({t for (_, t) in summary})
    workloads = list(OrderedDict((w, None) for (w, _) in summary))
    na = len(allocators)
    bar_w, gap = 16, 24
    group_w = max(na * bar_w + gap, 110)  # room for 8-character label lines
    left, right = 90, 30
    panel_h, panel_top_pad, label_h = 260, 40, 110
    title_h = 50
    width = max(left + len(workloads) * group_w + right, 900)

    # Legend, wrapped onto as many rows as the width needs.
    legend, x, row = [], left, 0
    for i, a in enumerate(allocators):
        w = 22 + Canvas.text_width(labels[a]) + 24
        if x + w > width - right and x > left:
            x, row = left, row + 1
        legend.append((x, title_h + 5 + row * 24, i, labels[a]))
        x += w
    legend_h = 40 + row * 24
    height = title_h + legend_h + len(thread_counts) * (panel_top_pad + panel_h + label_h)
    cv = Canvas(width, height)
    cv.text(left, 15, title, scale=2)
    for x, y, i, lab in legend:
        cv.rect(x, y, x + 16, y + 16, PALETTE[i % len(PALETTE)])
        cv.text(x + 22, y + 2, lab, scale=2)

    ratios = []
    for per in summary.values():
        for a in allocators:
            r = ratio(per.get(a), per.get(reference))
            if r is not None:
                ratios.append(r)
    ymax = min(max(ratios + [1.0]) * 1.1, 4.0)
    ticks = [v / 4.0 for v in range(0, int(ymax * 4) + 1)]
    if len(ticks) > 9:
        ticks = [v / 2.0 for v in range(0, int(ymax * 2) + 1)]

    for pi, t in enumerate(thread_counts):
        top = title_h + legend_h + pi * (panel_top_pad + panel_h + label_h) + panel_top_pad
        base = top + panel_h
        cv.text(left, top - 28, "threads = %d   (bar = ops/s relative to %s)" % (t, reference),
                scale=2)

        def ypos(v):
            return base - int(round(min(v, ymax) / ymax * panel_h))

        for v in ticks:
            y = ypos(v)
            cv.rect(left - 4, y, width - right, y + 1,
                    (120, 120, 120) if v == 1.0 else (225, 225, 225))
            lab = "%.2g" % v
            cv.text(left - 10 - cv.text_width(lab), y - 7, lab, scale=2)
        cv.rect(left - 1, top, left, base + 1, (0, 0, 0))
        cv.rect(left - 1, base, width - right, base + 1, (0, 0, 0))

        for wi, w in enumerate(workloads):
            gx = left + gap // 2 + wi * group_w
            per = summary.get((w, t), {})
            for ai, a in enumerate(allocators):
                c = per.get(a)
                x0 = gx + ai * bar_w
                if c is None:
                    continue
                if c["failed"]:
                    cv.text(x0 + 1, base - 18, "x", c=(200, 0, 0), scale=2)
                    continue
                r = ratio(c, per.get(reference))
                if r is None:
                    continue
                cv.rect(x0, ypos(r), x0 + bar_w - 2, base, PALETTE[ai % len(PALETTE)])
                if r > ymax:
                    cv.text(x0, top - 2, "+", c=(200, 0, 0), scale=1)
            # Workload label, written downwards one short line at a time.
            parts = w.replace("-", "_").split("_")
            for li, part in enumerate(parts[:4]):
                cv.text(gx, base + 8 + li * 18, part[:(group_w - 4) // 12], scale=2)
    cv.png(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--csv", required=True)
    ap.add_argument("--png")
    ap.add_argument("--allocators", required=True, help="column order, comma separated")
    ap.add_argument("--labels", default="", help="column headers, NAME=LABEL,... (default: the names)")
    ap.add_argument("--reference", default="hakmem")
    ap.add_argument("--title", default="hakmem benchmark")
    args = ap.parse_args()
    allocators = [a for a in args.allocators.split(",") if a]
    reference = args.reference if args.reference in allocators else allocators[0]
    labels = {a: a for a in allocators}
    labels.update(kv.split("=", 1) for kv in args.labels.split(",") if "=" in kv)
    rows = load(args.raw)
    if not rows:
        print("report: no results in %s" % args.raw, file=sys.stderr)
        return 1
    summary = summarise(rows, allocators)
    print_table(summary, allocators, reference, labels)
    write_csv(args.csv, summary, allocators, reference)
    if args.png:
        draw_chart(args.png, summary, allocators, reference, args.title, labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
