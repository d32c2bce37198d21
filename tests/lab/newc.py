"""Tiny writer for initramfs archives (cpio "newc" format) and busybox helpers.

Writing the archive ourselves, instead of running cpio over a staging directory,
lets an unprivileged user put device nodes (/dev/console) into it and keeps the
result byte-for-byte reproducible (fixed mtimes, owners and inode numbers)."""

import gzip
import os
import struct

_MODE_DIR = 0o040000
_MODE_REG = 0o100000
_MODE_LNK = 0o120000
_MODE_CHR = 0o020000


class Archive:
    def __init__(self):
        self._entries = []  # (name, mode, data, rdev_major, rdev_minor)
        self._dirs = set()

    def _parents(self, name):
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            self.dir("/".join(parts[:i]))

    def dir(self, name, mode=0o755):
        name = name.strip("/")
        if not name or name in self._dirs:
            return
        self._parents(name)
        self._dirs.add(name)
        self._entries.append((name, _MODE_DIR | mode, b"", 0, 0))

    def file(self, name, data, mode=0o644):
        name = name.strip("/")
        if isinstance(data, str):
            data = data.encode()
        self._parents(name)
        self._entries.append((name, _MODE_REG | mode, data, 0, 0))

    def symlink(self, name, target):
        name = name.strip("/")
        self._parents(name)
        self._entries.append((name, _MODE_LNK | 0o777, target.encode(), 0, 0))

    def chardev(self, name, major, minor, mode=0o600):
        name = name.strip("/")
        self._parents(name)
        self._entries.append((name, _MODE_CHR | mode, b"", major, minor))

    def _records(self):
        ino = 1
        for name, mode, data, rmaj, rmin in self._entries + [("TRAILER!!!", 0, b"", 0, 0)]:
            bname = name.encode() + b"\0"
            nlink = 2 if mode & 0o170000 == _MODE_DIR else 1
            fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rmaj, rmin, len(bname), 0)
            hdr = b"070701" + b"".join(b"%08X" % f for f in fields)
            yield hdr + bname + b"\0" * (-(len(hdr) + len(bname)) % 4)
            yield data + b"\0" * (-len(data) % 4)
            ino += 1

    def bytes(self):
        return b"".join(self._records())

    def write(self, path, compress=False):
        """Writes atomically (tmp + rename) so a cached archive is never half-written."""
        blob = self.bytes()
        if compress:
            blob = gzip.compress(blob, compresslevel=6, mtime=0)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)


def is_static_elf(path):
    """True if the ELF file has no PT_INTERP program header (no dynamic loader)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only
            return False
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    for i in range(phnum):
        p_type, = struct.unpack_from("<I", table, i * phentsize)
        if p_type == 3:  # PT_INTERP
            return False
    return True


def find_static_busybox():
    """Returns the path of a statically linked busybox (Debian's busybox-static), or None."""
    for cand in ("/bin/busybox", "/usr/bin/busybox", "/usr/lib/initramfs-tools/bin/busybox"):
        if os.path.isfile(cand) and is_static_elf(cand):
            return cand
    return None
