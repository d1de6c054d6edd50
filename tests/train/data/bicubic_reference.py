#!/usr/bin/env python3
# Independent reference for rngfree::train::resize_bicubic (tests/train/superres_test.cpp): MATLAB
# imresize(A, [oh ow], 'bicubic') (Keys' cubic, a = -1/2; antialiased kernel h(x) = s·cubic(s·x)
# when shrinking by s < 1; edges mirrored as aux = [1:n, n:-1:1]), computed in exact rational
# arithmetic with fractions.Fraction, no rounding. Prints the C++ table the test holds.
from fractions import Fraction as F
import math

def cubic(x):
    a = abs(x)
    if a <= 1: return F(3, 2) * a**3 - F(5, 2) * a**2 + 1
    if a <= 2: return F(-1, 2) * a**3 + F(5, 2) * a**2 - 4 * a + 2
    return F(0)

def contributions(n_in, n_out):
    s = F(n_out, n_in)
    width = 4 / s if s < 1 else F(4)
    taps = math.ceil(width) + 2
    aux = list(range(1, n_in + 1)) + list(range(n_in, 0, -1))
    rows = []
    for x in range(1, n_out + 1):
        u = x / s + F(1, 2) * (1 - 1 / s)
        left = math.floor(u - width / 2)
        idx = [left + p for p in range(taps)]
        w = [(s * cubic(s * (u - i)) if s < 1 else cubic(u - i)) for i in idx]
        tot = sum(w)
        rows.append([(aux[(i - 1) % len(aux)] - 1, wi / tot) for i, wi in zip(idx, w)])
    return rows

def resize(img, oh, ow):
    h, w = len(img), len(img[0])
    ch, cw = contributions(h, oh), contributions(w, ow)
    mid = [[sum(wt * img[i][x] for i, wt in ch[y]) for x in range(w)] for y in range(oh)]
    return [[sum(wt * mid[y][i] for i, wt in cw[x]) for x in range(ow)] for y in range(oh)]

def image(h, w):
    return [[F((7 * y * y + 13 * x + 3 * x * y + 5) % 256, 255) for x in range(w)] for y in range(h)]

cases = [(6, 6, 3, 3), (6, 6, 2, 2), (3, 3, 6, 6), (4, 6, 8, 12), (9, 6, 3, 2)]
for h, w, oh, ow in cases:
    out = resize(image(h, w), oh, ow)
    vals = ", ".join("%.12g" % float(v) for row in out for v in row)
    print("  {%d, %d, %d, %d, {%s}}," % (h, w, oh, ow, vals))
