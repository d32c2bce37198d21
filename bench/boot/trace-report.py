#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Where a traced boot's time went (traces from bench/boot/trace.sh).

    bench/boot/trace-report.py RUN_DIR/*.trace.gz

For each trace: the vCPU thread (the one with the most kvm_exit events), its
time in the guest (kvm_entry to kvm_exit) and handling exits (kvm_exit to
kvm_entry, in the kernel or the VMM), the handling time by exit reason, the
longest stretches of each kind, time off its CPU, and compaction events.
"""
import collections
import gzip
import re
import sys

LINE = re.compile(r"^\s*(.+?)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+):\s+(\w+):\s+(.*)$")


def report(path):
    events = []
    with gzip.open(path, "rt", errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                events.append((float(m.group(4)), m.group(5), int(m.group(2)), m.group(6)))
    exits = collections.Counter(e[2] for e in events if e[1] == "kvm_exit")
    if not exits:
        print(f"{path}: no kvm_exit events")
        return
    tid = exits.most_common(1)[0][0]
    t0 = min(e[0] for e in events if e[2] == tid)
    compaction = sum(1 for e in events if e[1].startswith("mm_compaction"))
    in_guest, handling, off = [], [], 0.0
    last = None
    off_since = None
    for t, name, pid, rest in events:
        if name == "sched_switch":
            if re.search(rf"prev_pid={tid}\b", rest):
                off_since = t
            elif re.search(rf"next_pid={tid}\b", rest) and off_since is not None:
                off += t - off_since
                off_since = None
            continue
        if pid != tid:
            continue
        if name == "kvm_entry":
            if last and last[1] == "exit":
                handling.append((t - last[0], last[0] - t0, last[2]))
            last = (t, "entry", "")
        elif name == "kvm_exit":
            m = re.search(r"reason (\S+)", rest)
            reason = m.group(1) if m else "?"
            if last and last[1] == "entry":
                in_guest.append((t - last[0], last[0] - t0, reason))
            last = (t, "exit", reason)
    by_reason = collections.defaultdict(float)
    for d, _, r in handling:
        by_reason[r] += d
    print(f"{path}: vCPU thread {tid}: in the guest {sum(d for d, _, _ in in_guest):.3f} s, "
          f"handling exits {sum(by_reason.values()):.3f} s, off its CPU {off:.3f} s, "
          f"{sum(exits.values())} exits, {compaction} compaction events")
    top = sorted(by_reason.items(), key=lambda kv: -kv[1])[:6]
    print("  handling by reason (s): " + ", ".join(f"{r} {v:.3f}" for r, v in top))
    slow = [h for h in handling if h[0] >= 0.1]
    print(f"  exits handled in 0.1 s or more: {len(slow)}, {sum(h[0] for h in slow):.3f} s: "
          + ", ".join(f"{r} {d:.3f} s at {at:.2f}" for d, at, r in sorted(slow, key=lambda h: h[1])))
    print("  longest stretches in the guest: "
          + ", ".join(f"{d:.3f} s at {at:.2f} (ended by {r})" for d, at, r in sorted(in_guest)[-3:]))


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for p in sys.argv[1:]:
        report(p)


if __name__ == "__main__":
    main()
