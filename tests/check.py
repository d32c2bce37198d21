#!/usr/bin/env python3
"""Runs every meson test suite and prints one closing line of our own:
`N passed, N failed, N skipped`. Skipped tests are listed with their reason."""
import json
import os
import subprocess
import sys

build = sys.argv[1] if len(sys.argv) > 1 else "build"
log = os.path.join(build, "meson-logs", "testlog.json")
if os.path.exists(log):
    os.unlink(log)

rc = subprocess.call(["meson", "test", "-C", build, "--print-errorlogs"])

passed = failed = skipped = 0
skips = []
fails = []
try:
    with open(log) as f:
        for line in f:
            if not line.strip():
                continue
            t = json.loads(line)
            res = t.get("result", "")
            name = t.get("name", "?")
            if res in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif res == "SKIP":
                skipped += 1
                out = (t.get("stdout") or "") + (t.get("stderr") or "")
                reason = next((l.strip() for l in out.splitlines() if "SKIP" in l), "no reason given")
                skips.append(f"{name}: {reason}")
            else:
                failed += 1
                fails.append(f"{name}: {res}")
except FileNotFoundError:
    print("no test log: meson test did not run", file=sys.stderr)
    failed += 1

for s in skips:
    print(f"skipped  {s}")
for s in fails:
    print(f"FAILED   {s}")
ran = passed + failed
print(f"{ran} tests ran, {skipped} skipped")
summary = f"{passed} passed, {failed} failed, {skipped} skipped"
with open(os.path.join(build, "test-summary.txt"), "w") as f:
    f.write(summary + "\n")
print(summary)
sys.exit(1 if failed or (rc != 0 and rc != 77) else 0)
