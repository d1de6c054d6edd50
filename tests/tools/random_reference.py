#!/usr/bin/env python3
"""Independent reference outputs for tests/random (written from the published algorithms, not from
the C++ code under test):
  - SplitMix64: Steele, Lea & Flood 2014; Vigna's reference splitmix64.c (prng.di.unimi.it).
  - xoshiro128++: Blackman & Vigna, "Scrambled linear pseudorandom number generators" (2018),
    reference xoshiro128plusplus.c (prng.di.unimi.it): result = rotl(s0 + s3, 7) + s0, then
    t = s1 << 9; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11).
  - xorshift32: Marsaglia, "Xorshift RNGs" (J. Stat. Soft. 2003), triple (13, 17, 5).
Seeding as issue 3 defines it. Prints C++ initializers; run: python3 tests/tools/random_reference.py
"""
M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF


def splitmix64(seed):
    state = seed
    while True:
        state = (state + 0x9E3779B97F4A7C15) & M64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        yield z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & M32


def xoshiro128pp(seed, count):
    sm = splitmix64(seed)
    z1, z2 = next(sm), next(sm)
    s = [z1 & M32, z1 >> 32, z2 & M32, z2 >> 32]
    out = []
    for _ in range(count):
        out.append((rotl((s[0] + s[3]) & M32, 7) + s[0]) & M32)
        t = (s[1] << 9) & M32
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 11)
    return out


def xorshift32(seed, count):
    x = next(splitmix64(seed)) & M32 or 1
    out = []
    for _ in range(count):
        x ^= (x << 13) & M32
        x ^= x >> 17
        x ^= (x << 5) & M32
        out.append(x)
    return out


def emit(name, values):
    body = ", ".join(f"{v}u" for v in values)
    print(f"const uint32_t {name}[] = {{{body}}};")


if __name__ == "__main__":
    sm = splitmix64(0)
    print("// SplitMix64(0):", ", ".join(hex(next(sm)) for _ in range(3)))
    for seed in (0, 1, 0x0123456789ABCDEF):
        emit(f"kXoshiro128ppSeed{seed:x}", xoshiro128pp(seed, 8))
        emit(f"kXorshift32Seed{seed:x}", xorshift32(seed, 8))
