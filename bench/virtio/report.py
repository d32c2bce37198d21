#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The virtio section of docs/benchmarks.md from a lab batch log.

    python3 tests/lab/suite.py --work-dir W --terrarium-run R batch \\
        --cases lab-bench-virtio-terrarium,lab-bench-virtio-qemu,... > LOG
    bench/virtio/report.py LOG [--doc docs/benchmarks.md] [--note TEXT]

Each `[suite] lab-bench-virtio-<vmm>: ok (...)` line of LOG is one round of
one VMM (repeated case names keep their numbers in the verdict line). The
table gives every round, the ratio of the medians, the range of same-round
ratios (terrarium / QEMU, round by round in the order they ran) and the
verdict against the goal (>= 1.0): firm when every round agrees, else by
the medians, marked as mixed.
"""

import argparse
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import benchdoc  # noqa: E402

MEASURES = [
    ("blk-write-mbs", "raw: sequential write + fsync, MB/s"),
    ("blk-read-mbs", "raw: sequential read, MB/s"),
    ("blk-rand-read-qd1-iops", "raw: 4 KiB random read QD1, IOPS"),
    ("blk-rand-read-qd32-iops", "raw: 4 KiB random read QD32, IOPS"),
    ("blk-rand-write-qd1-iops", "raw: 4 KiB random write QD1, IOPS"),
    ("blk-rand-write-qd32-iops", "raw: 4 KiB random write QD32, IOPS"),
    ("qcow2-write-mbs", "qcow2: sequential write + fsync, MB/s"),
    ("qcow2-read-mbs", "qcow2: sequential read, MB/s"),
    ("qcow2-rand-read-qd1-iops", "qcow2: 4 KiB random read QD1, IOPS"),
    ("qcow2-rand-read-qd32-iops", "qcow2: 4 KiB random read QD32, IOPS"),
    ("qcow2-rand-write-qd1-iops", "qcow2: 4 KiB random write QD1, IOPS"),
    ("qcow2-rand-write-qd32-iops", "qcow2: 4 KiB random write QD32, IOPS"),
    ("tcp-mbs", "guest → host TCP, user networking, MB/s"),
]
INFO = ["blk-write-reqs", "blk-read-reqs", "qcow2-write-reqs", "qcow2-read-reqs", "blk-queue"]

LINE = re.compile(r"^\[suite\] lab-bench-virtio-(terrarium|qemu): (ok|FAIL[^(]*) \((.*)\)\s*$")


def parse(path):
    rounds = {"terrarium": [], "qemu": []}
    seen = set()
    with open(path, errors="replace") as f:
        for line in f:
            # A batch that ends in a lab failure prints its verdict lines twice.
            if line in seen:
                continue
            seen.add(line)
            m = LINE.match(line.strip())
            if not m:
                continue
            vals = {}
            for part in re.split(r" (?=[a-z_][a-z0-9_-]*=)", m.group(3)):
                k, _, v = part.partition("=")
                if k.startswith("bench-"):
                    vals[k[len("bench-"):]] = v.strip().rstrip(",")
            vals["_ok"] = m.group(2) == "ok"
            rounds[m.group(1)].append(vals)
    return rounds


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def section(rounds, note):
    t, q = rounds["terrarium"], rounds["qemu"]
    out = [f"## virtio (lab, {len(t)}+{len(q)} rounds interleaved) — {time.strftime('%Y-%m-%d')}\n\n"]
    if note:
        out.append(note.strip() + "\n\n")
    out.append("| measure | terrarium-run | QEMU | median ÷ median | same-round ratios | "
               "goal ≥ 1.0 |\n")
    out.append("|---|---|---|---|---|---|\n")
    for key, what in MEASURES:
        tv = [r.get(key, "–") for r in t]
        qv = [r.get(key, "–") for r in q]
        ratios = [num(a) / num(b) for a, b in zip(tv, qv) if num(a) is not None and num(b)]
        tn = [num(a) for a in tv if num(a) is not None]
        qn = [num(b) for b in qv if num(b)]
        med = statistics.median(tn) / statistics.median(qn) if tn and qn else None
        if ratios and med is not None:
            lo, hi = min(ratios), max(ratios)
            rng = f"{lo:.2f}" if abs(hi - lo) < 0.005 else f"{lo:.2f}–{hi:.2f}"
            # The verdict follows the medians; every round above or below says it firmly.
            if lo >= 1.0:
                verdict = "✓"
            elif hi < 1.0:
                verdict = "✗"
            else:
                verdict = "✓ (medians; rounds mixed)" if med >= 1.0 else "✗ (medians; rounds mixed)"
            meds = f"{med:.2f}"
        else:
            rng, meds, verdict = "–", "–", "not measured"
        out.append(f"| {what} | {', '.join(tv)} | {', '.join(qv)} | {meds} | {rng} | {verdict} |\n")
    out.append("\nWhat the guest's block layer saw during the sequential runs (`/sys/block/*/stat`),"
               " per round:\n\n")
    for vmm, rs in (("terrarium-run", t), ("QEMU", q)):
        for key in INFO:
            vals = [r.get(key) for r in rs if r.get(key)]
            if vals and len(set(vals)) == 1 and len(vals) > 1:
                vals = [vals[0] + f" (all {len(rs)} rounds)"]
            if vals:
                out.append(f"- {vmm}, {key}: {'; '.join(vals)}\n")
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log")
    ap.add_argument("--doc", default=os.path.join(os.path.dirname(__file__), "..", "..", "docs",
                                                  "benchmarks.md"))
    ap.add_argument("--note", default="", help="text put under the heading (setup, analysis)")
    ap.add_argument("--print", action="store_true", help="print the section, do not write it")
    a = ap.parse_args()
    rounds = parse(a.log)
    if not rounds["terrarium"] or not rounds["qemu"]:
        raise SystemExit("no lab-bench-virtio-terrarium / -qemu verdict lines in the log")
    sec = section(rounds, a.note)
    if a.print:
        print(sec)
    else:
        benchdoc.write_section(a.doc, "virtio", sec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
