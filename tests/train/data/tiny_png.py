#!/usr/bin/env python3
# Writes the bytes of a 3x2 RGB PNG (filter type 0, zlib via Python's zlib, CRCs via binascii) as a
# C++ initializer for tests/train/superres_test.cpp: an encoder independent of stb_image.
import zlib, struct, binascii
W, H = 3, 2
px = [[(255, 0, 0), (0, 255, 0), (0, 0, 255)], [(10, 20, 30), (200, 100, 50), (128, 128, 128)]]
raw = b"".join(b"\x00" + bytes(c for p in row for c in p) for row in px)
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", binascii.crc32(t + d) & 0xffffffff)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
print(", ".join("0x%02x" % b for b in png))
