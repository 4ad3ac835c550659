#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A deterministic block image for the delta tests: SIZE bytes of 4 KiB blocks, text-like and
# random, zero runs between them. Version N+1 is version N with a few blocks rewritten, one block
# patched by a few bytes, and 64 KiB inserted in the middle (everything after it moves).
#   delta-image.py OUT VERSION [SEED]     (another SEED: unrelated content)
import random
import sys

out, version = sys.argv[1], int(sys.argv[2])
size = 6 * 1024 * 1024
B = 4096
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
         for _ in range(500)]


def block(r):
    kind = r.random()
    if kind < 0.5:
        text = b" ".join(r.choice(words) for _ in range(900))
        return (text + b"\n" * B)[:B]
    if kind < 0.8:
        return r.randbytes(B)
    return bytes(B)


blocks = [block(rng) for _ in range(size // B)]
for v in range(2, version + 1):
    r = random.Random(v)
    for _ in range(3):
        blocks[r.randrange(len(blocks))] = block(r)
    i = r.randrange(len(blocks))
    b = bytearray(blocks[i])
    for _ in range(4):
        b[r.randrange(B)] = r.randrange(256)
    blocks[i] = bytes(b)
    mid = len(blocks) // 2 + r.randrange(16)
    blocks[mid:mid] = [block(r) for _ in range(16)]
    del blocks[-16:]
with open(out, "wb") as f:
    f.write(b"".join(blocks))
