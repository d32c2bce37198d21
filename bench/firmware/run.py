#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The firmware benchmark: reset to the first boot-sector instruction through
SeaBIOS, terrarium-run beside QEMU -M pc, in the lab.

Both machines get the same 512-byte disk image whose boot sector writes 0 to
the test-exit port 0xF4 (terrarium-run --test-exit; QEMU's isa-debug-exit at
0xF4), 128 MiB, one vCPU and a std-VGA, so the time from process start to
process end is: create the VM, run SeaBIOS and its VGA BIOS from the reset
vector, find the IDE disk, read its boot sector and run its first
instructions, tear down. One lab start; every round runs both, the order
alternating. Prints a Markdown table and writes the "firmware" section of
docs/benchmarks.md. Python 3 standard library only.

    run.py --terrarium PATH [--rounds N] [--output MD]
    run.py inlab SPEC.json        (inside the lab; not for humans)
"""

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

SECTION = "firmware"
SRC = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(SRC / "bench"))
sys.path.insert(0, str(SRC / "tests" / "lab"))
import benchdoc  # noqa: E402

# mov al, 0; out 0xf4, al; cli; hlt; jmp $-1   (then 0x55AA at 510)
BOOT_CODE = bytes([0xB0, 0x00, 0xE6, 0xF4, 0xFA, 0xF4, 0xEB, 0xFD])


def boot_image(path):
    img = bytearray(512)
    img[:len(BOOT_CODE)] = BOOT_CODE
    img[510:512] = b"\x55\xaa"
    Path(path).write_bytes(bytes(img))


def commands(spec):
    img = spec["image"]
    t = [spec["terrarium"], "--drive", f"file={img},format=raw", "--boot", "disk",
         "--test-exit", "--mem", "128", "--serial", "none", "--display", "none"]
    q = [spec["qemu"], "-accel", "kvm", "-M", "pc", "-cpu", "host", "-m", "128",
         "-drive", f"file={img},format=raw,if=ide", "-boot", "c",
         "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
         "-display", "none", "-vga", "std", "-serial", "none", "-nic", "none",
         "-monitor", "none"]
    return {"terrarium": (t, 0), "qemu-pc": (q, 1)}  # QEMU's debug exit: (0 << 1) | 1


def inlab(spec_path):
    spec = json.loads(Path(spec_path).read_text())
    out = Path(os.environ["TERRARIUM_LAB_RUN_DIR"])
    # The lab sees the host's files read-only; the disk must be writable for both VMMs.
    local = Path("/tmp/bootsector.img")
    shutil.copy(spec["image"], local)
    spec["image"] = str(local)
    cmds = commands(spec)
    runs = []
    for r in range(spec["rounds"] + 1):  # round 0 warms the page cache; not reported
        order = list(cmds) if r % 2 == 0 else list(reversed(list(cmds)))
        for vmm in order:
            cmd, want = cmds[vmm]
            t0 = time.monotonic()
            try:
                p = subprocess.run(cmd, capture_output=True, timeout=120)
                rc, err = p.returncode, p.stderr.decode(errors="replace")[-300:]
            except subprocess.TimeoutExpired:
                rc, err = None, "timed out after 120 s"
            s = time.monotonic() - t0
            # QEMU's own errors also end with status 1: a good run says nothing on stderr.
            ok = rc == want and not err.strip()
            runs.append({"round": r, "vmm": vmm, "seconds": s, "ok": ok, "rc": rc, "err": err})
            print(f"[bench-firmware] round {r} {vmm}: {s:.3f} s{'' if ok else ' FAILED: ' + err}",
                  flush=True)
    (out / "firmware-results.json").write_text(json.dumps({"spec": spec, "runs": runs}))
    return 0


def section(result, host):
    runs = [r for r in result["runs"] if r["round"] > 0]
    per = {}
    for r in runs:
        if r["ok"]:
            per.setdefault(r["vmm"], []).append(r["seconds"])
    rounds = result["spec"]["rounds"]
    lines = [f"## {SECTION} — {host['date']}", "",
             "Reset to the first boot-sector instruction through SeaBIOS (process start to "
             "end: VM creation, SeaBIOS and its VGA BIOS from the reset vector, the IDE disk "
             "found, its boot sector read and run, teardown), in the nested-KVM lab. "
             f"Median of {rounds} rounds (min–max); run by `ninja -C build bench-firmware` "
             f"on {host['machine']} at {host['rev']}.", "",
             "| VMM | seconds | runs | ratio to QEMU -M pc |", "|---|---|---|---|"]
    ref = statistics.median(per["qemu-pc"]) if per.get("qemu-pc") else None
    for vmm in ("terrarium", "qemu-pc"):
        xs = per.get(vmm, [])
        if not xs:
            lines.append(f"| {vmm} | — | 0 | — |")
            continue
        med = statistics.median(xs)
        ratio = f"{med / ref:.2f}×" if ref else "—"
        lines.append(f"| {vmm} | {med:.2f} ({min(xs):.2f}–{max(xs):.2f}) | {len(xs)} | {ratio} |")
    failed = [r for r in runs if not r["ok"]]
    if failed:
        lines += ["", f"{len(failed)} run(s) failed: " +
                  "; ".join(f"{r['vmm']} round {r['round']}: status {r['rc']}" for r in failed)]
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "inlab":
        return inlab(sys.argv[2])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--terrarium", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--work-dir", default="build/bench/firmware")
    ap.add_argument("--output", help="docs/benchmarks.md to update")
    args = ap.parse_args()
    import lab  # noqa: E402  (tests/lab)
    work = Path(args.work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    img = work / "bootsector.img"
    boot_image(img)
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        print("bench-firmware: qemu-system-x86_64 is not installed", file=sys.stderr)
        return 1
    spec = {"image": str(img), "terrarium": str(Path(args.terrarium).resolve()), "qemu": qemu,
            "rounds": args.rounds}
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec))
    status, run_dir = lab.run([sys.executable, str(Path(__file__).resolve()), "inlab",
                               str(spec_path)], timeout=300 + 60 * args.rounds,
                              work_dir=str(work), cwd="/")
    res_path = Path(run_dir) / "firmware-results.json"
    if not res_path.exists():
        print(f"bench-firmware: the lab ended with status {status} and no results",
              file=sys.stderr)
        return 1
    result = json.loads(res_path.read_text())
    rev = subprocess.run(["git", "-C", str(SRC), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "?"
    host = {"date": datetime.date.today().isoformat(), "rev": rev,
            "machine": f"{os.cpu_count()} host CPUs"}
    text = section(result, host)
    print(text)
    if args.output:
        benchdoc.write_section(args.output, SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
