#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Where a squashfs delta's bytes come from: squashfs-blocks.py OLD NEW

Lists the compressed blocks of both images (file data blocks, from the inode table, and
fragment blocks, from the fragment table), and prints how many bytes of NEW's blocks OLD does
not hold byte for byte (no chunk-based delta can take those from the device), and how much of
that is fragment blocks: files smaller than a block packed together, which change as a whole
when one of their files changes or a file before them comes or goes. gzip and xz images.
"""
import hashlib
import lzma
import struct
import sys
import zlib

SUPERBLOCK = struct.Struct("<IIIIIHHHHHHQQQQQQQQ")
NO_FRAGMENT = 0xFFFFFFFF


def decompressor(comp):
    if comp == 1:
        return zlib.decompress
    if comp == 4:
        return lzma.decompress
    sys.exit("squashfs-blocks: compressor %d: only gzip (1) and xz (4) images" % comp)


def blocks(path):
    """(image bytes, {offset: (size, is_fragment)}) of every compressed block."""
    d = open(path, "rb").read()
    (magic, _inodes, _mtime, block_size, frag_count, comp, _blog, _flags, _ids, major, _minor,
     _root, _used, _idt, _xat, itab, dtab, ftab, _etab) = SUPERBLOCK.unpack_from(d, 0)
    if magic != 0x73717368 or major != 4:
        sys.exit("squashfs-blocks: %s is not a squashfs 4 image" % path)
    unpack = decompressor(comp)

    def metadata(off):
        (head,) = struct.unpack_from("<H", d, off)
        raw = d[off + 2:off + 2 + (head & 0x7FFF)]
        return raw if head & 0x8000 else unpack(raw)

    inodes = bytearray()
    off = itab
    while off < dtab:
        inodes += metadata(off)
        (head,) = struct.unpack_from("<H", d, off)
        off += 2 + (head & 0x7FFF)
    found = {}

    def add(start, word, fragment):
        if word & 0xFFFFFF:  # 0: a sparse block, nothing stored
            found[start] = (word & 0xFFFFFF, fragment)

    # Walk the inodes in order: only file inodes list blocks, the rest are skipped by size.
    p = 0
    while p < len(inodes):
        (kind,) = struct.unpack_from("<H", inodes, p)
        p += 16  # the common header
        if kind in (2, 9):  # basic and extended file
            if kind == 2:
                start, frag, _boff, size = struct.unpack_from("<IIII", inodes, p)
                p += 16
            else:
                start, size, _sparse, _nlink, frag, _boff, _xattr = struct.unpack_from(
                    "<QQQIIII", inodes, p)
                p += 40
            n = size // block_size if frag != NO_FRAGMENT else -(-size // block_size)
            for _ in range(n):
                (word,) = struct.unpack_from("<I", inodes, p)
                p += 4
                add(start, word, False)
                start += word & 0xFFFFFF
        elif kind == 1:
            p += 16
        elif kind in (3, 10):  # symlinks: the target follows
            (target,) = struct.unpack_from("<I", inodes, p + 4)
            p += 8 + target + (4 if kind == 10 else 0)
        elif kind == 8:  # extended directory: its index entries follow
            (count,) = struct.unpack_from("<H", inodes, p + 16)
            p += 24
            for _ in range(count):
                (name,) = struct.unpack_from("<I", inodes, p + 8)
                p += 12 + name + 1
        elif kind in (4, 5, 11, 12, 6, 7, 13, 14):
            p += {4: 8, 5: 8, 11: 12, 12: 12, 6: 4, 7: 4, 13: 8, 14: 8}[kind]
        else:
            sys.exit("squashfs-blocks: %s: unknown inode type %d" % (path, kind))
    for i in range(-(-frag_count // 512)):
        (ptr,) = struct.unpack_from("<Q", d, ftab + 8 * i)
        table = metadata(ptr)
        for j in range(min(512, frag_count - 512 * i)):
            start, word, _unused = struct.unpack_from("<QII", table, 16 * j)
            add(start, word, True)
    return d, found


def main():
    old, old_blocks = blocks(sys.argv[1])
    new, new_blocks = blocks(sys.argv[2])
    have = {hashlib.sha256(old[o:o + s]).digest() for o, (s, _f) in old_blocks.items()}
    total = frag = missing = missing_frag = 0
    for o, (s, f) in new_blocks.items():
        total += s
        frag += s if f else 0
        if hashlib.sha256(new[o:o + s]).digest() not in have:
            missing += s
            missing_frag += s if f else 0
    pct = lambda a, b: 100.0 * a / b if b else 0.0
    print("%d compressed blocks, %d bytes (%.1f%% of the image); fragment blocks %d bytes "
          "(%.1f%%)" % (len(new_blocks), total, pct(total, len(new)), frag, pct(frag, len(new))))
    print("blocks the old image lacks: %d bytes (%.1f%% of the image), fragment blocks %d of "
          "them (%.1f%%)" % (missing, pct(missing, len(new)), missing_frag,
                              pct(missing_frag, missing)))


main()
