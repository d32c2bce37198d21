"""A small PNG reader for the screenshot tests: 8-bit RGB or RGBA, not
interlaced, as terrarium-run writes them. Checks every chunk's CRC."""
import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Image:
    def __init__(self, width, height, rows):
        self.width = width
        self.height = height
        self.rows = rows  # height lists of (r, g, b)

    def pixel(self, x, y):
        return self.rows[y][x]

    def ink(self, x0, y0, x1, y1, background=(0, 0, 0)):
        """How many pixels in [x0, x1) x [y0, y1) differ from the background."""
        return sum(1 for y in range(y0, min(y1, self.height))
                   for x in range(x0, min(x1, self.width)) if self.rows[y][x] != background)


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read(path):
    data = open(path, "rb").read()
    if data[:8] != SIGNATURE:
        raise ValueError(f"{path}: not a PNG")
    off, idat, hdr = 8, b"", None
    while off + 12 <= len(data):
        (n,) = struct.unpack(">I", data[off:off + 4])
        kind, body = data[off + 4:off + 8], data[off + 8:off + 8 + n]
        (crc,) = struct.unpack(">I", data[off + 8 + n:off + 12 + n])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"{path}: bad CRC in {kind!r}")
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        off += 12 + n
    if not hdr:
        raise ValueError(f"{path}: no IHDR")
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(f"{path}: unsupported PNG (depth {depth}, type {ctype})")
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    if len(raw) != h * (stride + 1):
        raise ValueError(f"{path}: {len(raw)} bytes of image data for {w}x{h}")
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = (0, a, b, (a + b) // 2, _paeth(a, b, c))[ft] if ft <= 4 else None
            if pred is None:
                raise ValueError(f"{path}: bad filter {ft} on row {y}")
            line[i] = (line[i] + pred) & 0xff
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return Image(w, h, rows)
