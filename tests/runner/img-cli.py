#!/usr/bin/env python3
"""terrarium-img through its commands: create, info (human and JSON), check
(exit 0 clean, 2 errors, 3 leaks only) and snapshot, and every bad input
answered with a non-zero status and exactly one line on stderr, never a crash."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

img = os.path.abspath(sys.argv[1])
work = tempfile.mkdtemp(prefix="trm-img-", dir=os.environ.get("MESON_BUILD_ROOT", None))
failures = 0
ran = 0


def p(name):
    return os.path.join(work, name)


def run(args):
    return subprocess.run([img] + args, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, cwd=work)


def case(name, args, want_status, *want_words, stdout_words=()):
    """want_status 0: success with empty stderr; otherwise that status and one stderr line."""
    global failures, ran
    ran += 1
    r = run(args)
    problems = []
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    if r.returncode < 0:
        problems.append(f"killed by signal {-r.returncode}")
    elif r.returncode != want_status:
        problems.append(f"exit status {r.returncode}, wanted {want_status}")
    if want_status in (0, 2, 3):
        if lines:
            problems.append(f"stderr not empty: {r.stderr.strip()!r}")
    elif len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr, wanted exactly one")
    for w in want_words:
        if w.lower() not in r.stderr.lower():
            problems.append(f"stderr lacks {w!r}")
    for w in stdout_words:
        if w.lower() not in r.stdout.lower():
            problems.append(f"stdout lacks {w!r}")
    first = ((r.stderr or r.stdout).strip().splitlines() or [""])[0]
    print(f"{'ok  ' if not problems else 'FAIL'} {name}: {first[:160]}")
    for pr in problems:
        print(f"       {pr}")
    if problems:
        failures += 1
    return r


def patch(path, off, data):
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(data)


def be(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return int.from_bytes(f.read(n), "big")


# ---- usage ----
case("no command", [], 1, "command")
case("unknown command", ["frobnicate"], 1, "unknown command")
case("info without a file", ["info"], 1, "file name")
case("info with two files", ["info", "a", "b"], 1, "file name")
case("unknown option", ["info", "--bogus", "x"], 1, "unknown option")
case("create without a size", ["create", "nosize.qcow2"], 1, "size")
case("create with a bad size", ["create", "bad.qcow2", "12Q"], 1, "not a size")
case("create with a negative size", ["create", "bad.qcow2", "-5"], 1)
case("create with an overflowing size", ["create", "bad.qcow2", "99999999999E"], 1, "not a size")
case("create in an unknown format", ["create", "-f", "vmdk", "x.vmdk", "1G"], 1, "vmdk")
case("raw with a backing file", ["create", "-f", "raw", "-b", "x", "r.img", "1M"], 1, "backing")
case("-F without -b", ["create", "-F", "raw", "x.qcow2", "1M"], 1, "-b")
case("bad cluster size", ["create", "-c", "3000", "x.qcow2", "1M"], 1, "cluster size")
case("absurd virtual size", ["create", "huge.qcow2", "8E"], 1)
case("snapshot without an action", ["snapshot", "x.qcow2"], 1, "exactly one")
case("snapshot with two actions", ["snapshot", "-l", "-c", "a", "x.qcow2"], 1, "exactly one")
case("snapshot -c without a name", ["snapshot", "-c"], 1)
case("check with an unknown format", ["check", "-f", "vdi", "x"], 1, "vdi")

# ---- a healthy qcow2 image through every command ----
case("create qcow2", ["create", "a.qcow2", "64M"], 0)
case("create over an existing file", ["create", "a.qcow2", "64M"], 1, "exists")
case("info", ["info", "a.qcow2"], 0, stdout_words=("file format: qcow2", "virtual size: 64 MiB",
                                                      "67108864 bytes", "cluster_size: 65536"))
r = case("info --json", ["info", "--json", "a.qcow2"], 0)
try:
    j = json.loads(r.stdout)
    assert j["format"] == "qcow2" and j["virtual-size"] == 64 << 20 and j["snapshots"] == []
    assert j["cluster-size"] == 65536 and j["qcow2-version"] == 3
except (ValueError, KeyError, AssertionError) as e:
    print(f"FAIL info --json output: {e!r}: {r.stdout!r}")
    failures += 1
case("check clean", ["check", "a.qcow2"], 0, stdout_words=("No errors",))
case("snapshot -c", ["snapshot", "-c", "before update", "a.qcow2"], 0)
case("snapshot -c again", ["snapshot", "-c", "before update", "a.qcow2"], 1, "already has")
case("snapshot -c second", ["snapshot", "-c", "two", "a.qcow2"], 0)
case("snapshot -l", ["snapshot", "-l", "a.qcow2"], 0, stdout_words=("before update", "two"))
r = case("info --json with snapshots", ["info", "--json", "a.qcow2"], 0)
try:
    names = [s["name"] for s in json.loads(r.stdout)["snapshots"]]
    assert names == ["before update", "two"], names
except (ValueError, KeyError, AssertionError) as e:
    print(f"FAIL info --json snapshots: {e!r}")
    failures += 1
case("snapshot -a", ["snapshot", "-a", "before update", "a.qcow2"], 0)
case("snapshot -a by id", ["snapshot", "-a", "2", "a.qcow2"], 0)
case("snapshot -a unknown", ["snapshot", "-a", "nope", "a.qcow2"], 1, "no snapshot named")
case("snapshot -d", ["snapshot", "-d", "before update", "a.qcow2"], 0)
case("snapshot -d unknown", ["snapshot", "-d", "before update", "a.qcow2"], 1, "no snapshot")
case("check after snapshots", ["check", "a.qcow2"], 0, stdout_words=("No errors",))
case("snapshot name too long", ["snapshot", "-c", "x" * 300, "a.qcow2"], 1, "255")
case("snapshot with an empty name", ["snapshot", "-c", "", "a.qcow2"], 1, "name")

# ---- raw images and backing files ----
case("create raw", ["create", "-f", "raw", "r.img", "1M"], 0)
if os.path.getsize(p("r.img")) != 1 << 20:
    print("FAIL raw image size")
    failures += 1
case("info raw", ["info", "r.img"], 0, stdout_words=("file format: raw",))
case("check raw", ["check", "r.img"], 1, "only qcow2")
case("snapshot on raw", ["snapshot", "-c", "x", "r.img"], 1, "qcow2")
case("create with a backing file", ["create", "-b", "r.img", "-F", "raw", "over.qcow2"], 0)
case("info of the overlay", ["info", "over.qcow2"], 0,
     stdout_words=("backing file: r.img", "backing file format: raw", "1 MiB"))
case("missing backing file", ["create", "-b", "none.img", "o2.qcow2", "1M"], 1, "none.img")
case("backing file of the wrong format", ["create", "-b", "r.img", "-F", "qcow2", "o3.qcow2"], 1,
     "qcow2")

# ---- bad files ----
case("info of a missing file", ["info", "missing.qcow2"], 1, "no such file")
case("check of a missing file", ["check", "missing.qcow2"], 1, "no such file")
case("snapshot of a missing file", ["snapshot", "-l", "missing.qcow2"], 1, "no such file")
with open(p("garbage.img"), "wb") as f:
    f.write(os.urandom(100000))
case("garbage: check", ["check", "garbage.img"], 1, "only qcow2")
case("garbage: snapshot", ["snapshot", "-l", "garbage.img"], 1, "qcow2")
case("garbage as qcow2", ["info", "-f", "qcow2", "garbage.img"], 1, "not a qcow2 image")
shutil.copy(p("a.qcow2"), p("trunc.qcow2"))
os.truncate(p("trunc.qcow2"), 50)
case("truncated header: info", ["info", "trunc.qcow2"], 1, "truncated")
case("truncated header: check", ["check", "trunc.qcow2"], 1, "truncated")
case("truncated header: snapshot", ["snapshot", "-c", "x", "trunc.qcow2"], 1, "truncated")
shutil.copy(p("a.qcow2"), p("cut.qcow2"))
os.truncate(p("cut.qcow2"), 70000)  # header intact, tables gone
case("tables cut off", ["info", "cut.qcow2"], 1, "outside the file")
shutil.copy(p("a.qcow2"), p("incompat.qcow2"))
patch(p("incompat.qcow2"), 72, struct.pack(">Q", 1 << 7))
case("unknown incompatible bit: info", ["info", "incompat.qcow2"], 1, "incompatible")
case("unknown incompatible bit: check", ["check", "incompat.qcow2"], 1, "incompatible")
case("unknown incompatible bit: snapshot", ["snapshot", "-l", "incompat.qcow2"], 1, "incompatible")
shutil.copy(p("a.qcow2"), p("snaps.qcow2"))
patch(p("snaps.qcow2"), 60, struct.pack(">I", 1 << 20))
case("absurd snapshot count", ["snapshot", "-l", "snaps.qcow2"], 1, "snapshots")
os.chmod(p("a.qcow2"), 0o444)
if os.geteuid() != 0:
    case("read-only file: snapshot -c", ["snapshot", "-c", "x", "a.qcow2"], 1, "permission")
os.chmod(p("a.qcow2"), 0o644)

# ---- check's exit statuses ----
case("create for check", ["create", "c.qcow2", "16M"], 0)
rt = be(p("c.qcow2"), 48, 8)
rb = be(p("c.qcow2"), rt, 8)
shutil.copy(p("c.qcow2"), p("leak.qcow2"))
patch(p("leak.qcow2"), rb + 2 * 100, struct.pack(">H", 1))  # a cluster nothing uses
case("check: leaks only", ["check", "leak.qcow2"], 3, stdout_words=("1 leaked cluster",))
shutil.copy(p("c.qcow2"), p("err.qcow2"))
l1_cluster = be(p("err.qcow2"), 40, 8) // 65536
patch(p("err.qcow2"), rb + 2 * l1_cluster, struct.pack(">H", 0))  # the L1 table looks free
case("check: errors", ["check", "err.qcow2"], 2, stdout_words=("errors were found",))

print(f"{ran} cases, {failures} failed")
if failures == 0:
    shutil.rmtree(work)
else:
    print(f"scratch files kept in {work}")
sys.exit(1 if failures else 0)
