#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Repeats lab cases in one lab start, to catch what fails once in many runs.

    tests/lab/stress.py --terrarium-run build/app/runner/terrarium-run \\
        --cases lab-terrarium-virtio-intx,lab-terrarium-busybox-2cpu --cpus 2 --repeat 10

Each case runs as suite.py runs it (the same command, markers and verdict), with the
vCPU count overridden if --cpus is given, REPEAT times in turn, all in one lab start.
Every run keeps its own directory (RUN_DIR/stress/NN/: the guest's log, the result, and
for a terrarium-run that timed out its state dump and NAME.threads.txt). The summary
lists the failed runs. Exit status: 0 if every run passed, 1 otherwise. Not part of
`meson test`: a by-hand tool (one lab at a time; the cases' timeouts apply).
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lab  # noqa: E402
import suite  # noqa: E402


def inlab(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    root = os.path.join(os.environ["TERRARIUM_LAB_RUN_DIR"], "stress")
    failed = []
    t_start = time.monotonic()
    suite.start_heartbeat("[stress]", lambda: f"at {time.monotonic() - t_start:.0f} s")
    for i in range(spec["repeat"]):
        for c in spec["cases"]:
            # The verdict must expect the overridden vCPU count (NPROC).
            suite.CASE_BY_NAME[c["name"]] = dict(suite.CASE_BY_NAME[c["name"]], cpus=c["cpus"])
            outdir = os.path.join(root, f"{i:02d}")
            os.makedirs(outdir, exist_ok=True)
            t0 = time.monotonic()
            _, fails = suite.run_judged(c, outdir)
            if fails:
                failed.append(f"{i:02d} {c['name']}")
            print(f"[stress] {i:02d} {c['name']}: {'FAIL: ' + '; '.join(fails) if fails else 'ok'}"
                  f" ({time.monotonic() - t0:.1f} s)", flush=True)
    print(f"[stress] {len(failed)} of {spec['repeat'] * len(spec['cases'])} runs failed"
          + (": " + ", ".join(failed) if failed else ""), flush=True)
    return 1 if failed else 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "inlab":
        return inlab(sys.argv[2])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work-dir", default=os.environ.get("TERRARIUM_LAB_DIR",
                                                         lab.DEFAULT_WORK_DIR))
    ap.add_argument("--terrarium-run", default="", help="path of the built terrarium-run")
    ap.add_argument("--cases", required=True, help="comma-separated case names (suite.py list)")
    ap.add_argument("--cpus", type=int, help="vCPUs for every case (default: each case's own)")
    ap.add_argument("--repeat", type=int, default=10)
    a = ap.parse_args()
    names = a.cases.split(",")
    bad = [n for n in names if n not in suite.CASE_BY_NAME]
    if bad:
        ap.error(f"unknown case(s): {', '.join(bad)}")
    work_dir = os.path.abspath(a.work_dir)
    tr = os.path.abspath(a.terrarium_run) if a.terrarium_run else ""
    os.makedirs(work_dir, exist_ok=True)
    if subprocess.call([sys.executable, os.path.join(HERE, "mk-initramfs.py"),
                        os.path.join(work_dir, "guest-initramfs.cpio")]) != 0:
        print("stress: could not build the guest initramfs", file=sys.stderr)
        return 1
    if a.cpus:
        for n in names:
            suite.CASE_BY_NAME[n] = dict(suite.CASE_BY_NAME[n], cpus=a.cpus)
    cases, skipped = suite.plan(names, work_dir, tr)
    for n, why in skipped.items():
        print(f"stress: {n} skipped: {why}", file=sys.stderr)
    if not cases:
        return lab.EXIT_SKIP
    spec = os.path.join(work_dir, "stress-spec.json")
    with open(spec, "w") as f:
        json.dump(dict(cases=cases, repeat=a.repeat), f, indent=1)
    timeout = a.repeat * sum(c["timeout"] + suite.SIGINT_GRACE for c in cases) + 120
    status, run_dir = lab.run([sys.executable, os.path.abspath(__file__), "inlab", spec],
                              timeout=timeout, work_dir=work_dir, cwd="/",
                              stall_timeout=suite.LAB_STALL_SECONDS, progress=b"[stress] ")
    print(f"stress: lab status {status}; runs in {run_dir}/stress")
    return status


if __name__ == "__main__":
    sys.exit(main())
