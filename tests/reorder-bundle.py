#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""reorder-bundle.py IN OUT: rewrites a bundle with its payloads (field 4) before its
metadata, as some other tools lay bundles out. The bytes of every field are kept."""
import sys


def varint(buf, pos):
    value, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos


data = open(sys.argv[1], "rb").read()
fields, pos = [], 0
while pos < len(data):
    start = pos
    tag, pos = varint(data, pos)
    assert tag & 7 == 2, "bundles have only length-delimited top-level fields"
    length, pos = varint(data, pos)
    pos += length
    fields.append((tag >> 3, data[start:pos]))
payloads = [f for n, f in fields if n == 4]
others = [f for n, f in fields if n != 4]
open(sys.argv[2], "wb").write(b"".join(payloads + others))
