#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Two versions of a root file system tree for bench/delta, always the same bytes.

Usage: delta-gen.py [--pattern release|rebuild] OUTDIR [MiB]      (default: release, 256)

Writes OUTDIR/v1 and OUTDIR/v2 from a seeded PRNG alone (nothing of this machine's files):
- about MiB MiB in ~7,000-8,000 files under a few hundred directories, with symbolic links;
- text-like files (configuration, scripts, documentation: words from a generated vocabulary
  with a Zipf distribution; ~3x with gzip), ELF-like binaries (a header, code made of
  recurring instruction patterns with random displacements, strings, relocation tables and
  random data; ~1.5-2x) and some incompressible files (already compressed data, firmware);
- most files small (1-64 KiB), a few hundred medium ones (64 KiB-1 MiB), some large ones
  (2-6 MiB) and one of ~22 MB (a big shared library).
Version 2 differs from version 1 as a release does ("release"): 2% of the files patched in
place (a few byte ranges rewritten and a few KiB appended), 2% new files, 1% deleted. Or as a
rebuild of many packages does ("rebuild"): 5% of the binaries relinked (a few bytes rewritten
in every 64 KiB and a few KiB appended), 1% of the other files patched, 1% renamed into
another directory, 1% added, 1% deleted. Both insert 1 MiB in the middle of the ~22 MB file
at an offset that is not block-aligned; a rebuild's 1 MiB and a few bytes, so that the rest of
the file moves by an amount that is not a multiple of 4 KiB either.
Every file, link and directory gets the same fixed mtime in both versions (a reproducible
build pipeline's: Yocto's REPRODUCIBLE_TIMESTAMP_ROOTFS), and fixed modes.
"""
import bisect
import itertools
import os
import random
import shutil
import sys

SEED = 0x5EED2024
EPOCH = 1520598896  # Yocto's REPRODUCIBLE_TIMESTAMP_ROOTFS
KiB, MiB = 1024, 1024 * 1024
BIG_NAME = "usr/lib/libLLVM-15.so.1"
BIG_SIZE = 22 * 1000 * 1000 + 4321  # "~22 MB", not block-aligned


class Content:
    """Generators of realistic-looking bytes; all randomness comes from self.rng."""

    def __init__(self, rng):
        self.rng = rng
        cons, vows = "bcdfghklmnprstvwxz", "aeiouy"
        words = {}
        while len(words) < 6000:
            n = rng.choice((1, 2, 2, 2, 3, 3, 4))
            w = "".join(rng.choice(cons) + rng.choice(vows) + (rng.choice(cons) if rng.random() < 0.3 else "")
                        for _ in range(n))
            words[w] = None
        self.words = list(words)
        # Zipf: word i has weight 1 / (i + 1).
        self.word_cw = list(itertools.accumulate(1.0 / (i + 1) ** 1.1 for i in range(len(self.words))))
        # Instruction-like tokens: an opcode byte or two and an operand; the frequent ones short.
        ops = [0x48, 0x89, 0x8B, 0xE8, 0xE9, 0x0F, 0x83, 0x85, 0xC3, 0x31, 0x41, 0x4C, 0x74, 0x75, 0xFF, 0x8D]
        toks = []
        for i in range(4096):
            n = 1 + min(6, int(rng.expovariate(0.45)))
            toks.append(bytes([rng.choice(ops)]) + rng.randbytes(n - 1))
        self.toks = toks
        self.tok_cw = list(itertools.accumulate(1.0 / (i + 1) ** 0.9 for i in range(len(toks))))

    def wordlist(self, k):
        return self.rng.choices(self.words, cum_weights=self.word_cw, k=k)

    def text(self, n, style=None):
        """n bytes of text: prose, configuration, code or markup lines."""
        rng = self.rng
        style = style or rng.choice(("prose", "conf", "code", "markup"))
        words = self.wordlist(n // 5 + 64)
        out, size, i = [], 0, 0
        lens = rng.choices(range(2, 15), k=n // 40 + 16)
        li = 0
        while size < n:
            if i + 16 > len(words):
                words += self.wordlist(n // 10 + 64)
            if li >= len(lens):
                lens += rng.choices(range(2, 15), k=1024)
            k = lens[li]
            li += 1
            w = words[i:i + k]
            i += k
            if style == "prose":
                line = " ".join(w).capitalize() + ".\n"
            elif style == "conf":
                line = "%s_%s = %s\n" % (w[0], w[1], " ".join(w[2:5]) if k > 4 else str(k * 37))
            elif style == "code":
                indent = "    " * (k % 4)
                line = "%s%s(%s);\n" % (indent, "_".join(w[:2]), ", ".join(w[2:6]))
            else:
                line = '<%s class="%s">%s</%s>\n' % (w[0], w[1], " ".join(w[2:]), w[0])
            out.append(line)
            size += len(line)
        return "".join(out).encode()[:n]

    def code(self, n):
        """Machine code: recurring instruction patterns, every ~20 bytes a random displacement."""
        rng = self.rng
        b = bytearray()
        while len(b) < n:
            b += b"".join(rng.choices(self.toks, cum_weights=self.tok_cw, k=(n - len(b)) // 2 + 16))
        del b[n:]
        rnd = rng.randbytes(n // 6 + 8)
        j = 0
        for off in range(rng.randrange(24), n - 4, 24):
            b[off:off + 4] = rnd[j:j + 4]
            j += 4
        return bytes(b)

    def relocs(self, n):
        """Elf64_Rela-like records: increasing offsets, few symbols, small addends."""
        rng = self.rng
        base = rng.randrange(1 << 20) * 16
        recs = []
        for i in range(n // 24 + 1):
            recs.append((base + 8 * i).to_bytes(8, "little") +
                        ((rng.randrange(64) << 32) | rng.choice((6, 7, 8))).to_bytes(8, "little") +
                        rng.randrange(256).to_bytes(8, "little"))
        return b"".join(recs)[:n]

    def strings(self, n):
        words = self.wordlist(n // 4 + 16)
        return b"\0".join(("%s_%s" % (a, b)).encode() for a, b in zip(words[::2], words[1::2]))[:n].ljust(n, b"\0")

    def elf(self, n):
        """An ELF-like binary: header, .text, .rodata, .rela, .data."""
        rng = self.rng
        hdr = (b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x03\x00\x3e\x00\x01\x00\x00\x00" +
               rng.randbytes(8) + (64).to_bytes(8, "little") + bytes(8) + bytes(4) +
               b"\x40\x00\x38\x00\x09\x00\x40\x00\x1e\x00\x1d\x00")
        hdr += b"".join(bytes([rng.choice((1, 1, 2, 4, 6))]) + bytes(3) + rng.randbytes(4) +
                        (0x1000 * i).to_bytes(8, "little") * 3 + rng.randrange(1 << 24).to_bytes(8, "little") * 2 +
                        (0x1000).to_bytes(8, "little") for i in range(9))
        if n <= len(hdr):
            return hdr[:n]
        rest = n - len(hdr)
        t, s, r = rest * 55 // 100, rest * 15 // 100, rest * 20 // 100
        d = rest - t - s - r
        return hdr + self.code(t) + self.strings(s) + self.relocs(r) + rng.randbytes(d)

    def random(self, n):
        return self.rng.randbytes(n)

    def make(self, kind, n):
        return getattr(self, kind)(n)


EXT = {
    "elf": ("", "", ".so.1", ".so.2", ".so.0.4.1", ".ko", ".so"),
    "text": (".conf", ".py", ".sh", ".txt", ".xml", ".json", ".h", ".html", ".service", ""),
    "random": (".gz", ".png", ".bin", ".xz", ".jpg", ".fw"),
}
BASES = {  # directory trees and the kinds of files they hold
    "usr/lib": ("elf", "elf", "elf", "text", "random"),
    "usr/bin": ("elf",),
    "usr/sbin": ("elf",),
    "usr/libexec": ("elf", "text"),
    "usr/lib/modules/6.1.0": ("elf",),
    "lib/firmware": ("random", "elf"),
    "etc": ("text",),
    "usr/share": ("text", "text", "random"),
    "usr/share/doc": ("text",),
    "opt/acme": ("elf", "text", "random"),
    "var/lib": ("text", "random"),
}


class Tree:
    def __init__(self, rng, content):
        self.rng, self.c = rng, content
        self.dirs = {}  # dir -> kinds
        self.files = {}  # path -> kind
        for base, kinds in BASES.items():
            self.dirs[base] = kinds
        bases = list(BASES)
        while len(self.dirs) < 320:
            parent = rng.choice(sorted(self.dirs)) if rng.random() < 0.4 else rng.choice(bases)
            name = rng.choice(content.words[:1500])
            if parent.count("/") < 6:
                self.dirs.setdefault(parent + "/" + name, self.dirs[parent])
        self.by_kind = {k: sorted(d for d, ks in self.dirs.items() if k in ks) for k in EXT}

    def new_path(self, kind):
        rng = self.rng
        while True:
            d = rng.choice(self.by_kind[kind])
            w = self.c.wordlist(2)
            name = (w[0] if rng.random() < 0.5 else "%s-%s" % (w[0], w[1])) + rng.choice(EXT[kind])
            if kind == "elf" and ".so" in name:
                name = "lib" + name
            p = d + "/" + name
            if p not in self.files and p not in self.dirs:
                return p

    def write(self, root, path, data, kind):
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
        executable = kind == "elf" and ("bin/" in path or "libexec/" in path)
        os.chmod(full, 0o755 if executable else 0o644)


def loguniform(rng, lo, hi):
    return int(lo * (hi / lo) ** rng.random())


def pick_kind(rng, weights):
    return rng.choices(("text", "elf", "random"), weights=weights)[0]


def small_size(rng):
    return loguniform(rng, 1 * KiB, 64 * KiB)


def delete(t, v2, path, links):
    os.unlink(os.path.join(v2, path))
    link = path[:-2]
    if link in links:
        os.unlink(os.path.join(v2, link))
    del t.files[path]


def add_files(rng, c, t, v2, count):
    for _ in range(count):
        kind = pick_kind(rng, (50, 40, 10))
        size = small_size(rng) if rng.random() < 0.9 else loguniform(rng, 64 * KiB, 1 * MiB)
        path = t.new_path(kind)
        t.files[path] = kind
        t.write(v2, path, c.make(kind, size), kind)


def rewrite(v2, path, edit):
    full = os.path.join(v2, path)
    with open(full, "rb") as f:
        data = bytearray(f.read())
    edit(data)
    with open(full, "wb") as f:
        f.write(data)


def release_changes(rng, c, t, v2, names, links):
    """A release that touches few files: 2% patched in a few places with a few KiB appended,
    2% new files, 1% deleted."""
    n = len(names)
    patched, deleted = sorted(names[:n * 2 // 100]), sorted(names[n * 2 // 100:n * 3 // 100])
    for path in patched:
        kind = t.files[path]

        def edit(data):
            for _ in range(rng.randint(1, 4)):
                off = rng.randrange(len(data))
                ln = min(rng.randint(8, 512), len(data) - off)
                data[off:off + ln] = c.make(kind, ln)
            data += c.make(kind, rng.randint(1 * KiB, 8 * KiB))
        rewrite(v2, path, edit)
    for path in deleted:
        delete(t, v2, path, links)
    add_files(rng, c, t, v2, n * 2 // 100)
    return "%d files patched, %d added, %d deleted" % (len(patched), n * 2 // 100, len(deleted))


def rebuild_changes(rng, c, t, v2, names, links):
    """A rebuild of many packages: 5% of the binaries relinked (a few bytes rewritten in every
    64 KiB, as moved addresses are, and a few KiB appended: each is changed all along its
    length), 1% of the other files patched in one place, 1% of the files renamed into another
    directory, 1% added, 1% deleted."""
    n = len(names)
    elves = [p for p in names if t.files[p] == "elf"]
    others = [p for p in names if t.files[p] != "elf"]
    relinked = sorted(elves[:len(elves) * 5 // 100])
    patched = sorted(others[:len(others) // 100])
    rest = [p for p in names if p not in set(relinked) | set(patched)]
    renamed, deleted = sorted(rest[:n // 100]), sorted(rest[n // 100:n * 2 // 100])
    for path in relinked:
        def edit(data):
            for base in range(0, len(data), 64 * KiB):
                off = base + rng.randrange(min(64 * KiB, len(data) - base))
                ln = min(rng.randint(4, 16), len(data) - off)
                data[off:off + ln] = rng.randbytes(ln)
            data += c.elf(rng.randint(1 * KiB, 8 * KiB))
        rewrite(v2, path, edit)
    for path in patched:
        kind = t.files[path]

        def edit(data):
            off = rng.randrange(len(data))
            ln = min(rng.randint(8, 512), len(data) - off)
            data[off:off + ln] = c.make(kind, ln)
        rewrite(v2, path, edit)
    for path in renamed:
        kind = t.files.pop(path)
        new = t.new_path(kind)
        os.makedirs(os.path.dirname(os.path.join(v2, new)), exist_ok=True)
        os.rename(os.path.join(v2, path), os.path.join(v2, new))
        t.files[new] = kind
        if path[:-2] in links:
            os.unlink(os.path.join(v2, path[:-2]))
    for path in deleted:
        delete(t, v2, path, links)
    add_files(rng, c, t, v2, n // 100)
    return ("%d binaries relinked, %d other files patched, %d renamed, %d added, %d deleted" %
            (len(relinked), len(patched), len(renamed), n // 100, len(deleted)))


def main():
    args = sys.argv[1:]
    pattern = "release"
    if len(args) >= 2 and args[0] == "--pattern":
        pattern = args[1]
        args = args[2:]
    if len(args) not in (1, 2) or pattern not in ("release", "rebuild"):
        sys.exit("usage: delta-gen.py [--pattern release|rebuild] OUTDIR [MiB]")
    out = args[0]
    total = int(args[1]) * MiB if len(args) == 2 else 256 * MiB
    v1, v2 = os.path.join(out, "v1"), os.path.join(out, "v2")
    for d in (v1, v2):
        if os.path.exists(d):
            shutil.rmtree(d)
    os.umask(0o022)
    rng = random.Random(SEED)
    c = Content(rng)
    t = Tree(rng, c)
    scale = total / (256 * MiB)

    # --- version 1 ---------------------------------------------------------------------------------
    plan = [(BIG_NAME, "elf", BIG_SIZE)]
    for _ in range(max(1, round(10 * scale))):
        kind = rng.choice(("elf", "elf", "elf", "elf", "elf", "elf", "random", "random", "text", "text"))
        plan.append((t.new_path(kind), kind, loguniform(rng, 2 * MiB, 6 * MiB)))
        t.files[plan[-1][0]] = kind
    for _ in range(max(1, round(260 * scale))):
        kind = pick_kind(rng, (25, 60, 15))
        plan.append((t.new_path(kind), kind, loguniform(rng, 64 * KiB, 1 * MiB)))
        t.files[plan[-1][0]] = kind
    t.files[BIG_NAME] = "elf"
    used = sum(p[2] for p in plan)
    while used < total:
        kind = pick_kind(rng, (50, 40, 10))
        size = min(small_size(rng), total - used)
        plan.append((t.new_path(kind), kind, size))
        t.files[plan[-1][0]] = kind
        used += size
    for path, kind, size in plan:
        t.write(v1, path, c.make(kind, size), kind)
    for d in t.dirs:
        os.makedirs(os.path.join(v1, d), exist_ok=True)
    # Development links of the shared libraries (libfoo.so -> libfoo.so.1).
    links = []
    for path in sorted(t.files):
        if path.endswith(".so.1") and rng.random() < 0.5:
            link = path[:-2]
            if link not in t.files:
                links.append(link)
                os.symlink(os.path.basename(path), os.path.join(v1, link))

    # --- version 2 ---------------------------------------------------------------------------------
    shutil.copytree(v1, v2, symlinks=True)
    names = sorted(p for p in t.files if p != BIG_NAME)
    rng.shuffle(names)
    n = len(names)
    change = {"release": release_changes, "rebuild": rebuild_changes}[pattern]
    summary = change(rng, c, t, v2, names, links)
    full = os.path.join(v2, BIG_NAME)
    with open(full, "rb") as f:
        data = f.read()
    mid = len(data) // 2 + rng.randrange(4096)
    # A rebuild's insertion shifts the rest of the file by an amount that is not block-aligned.
    grow = 1 * MiB if pattern == "release" else 1 * MiB + rng.randrange(1, 4096)
    with open(full, "wb") as f:
        f.write(data[:mid] + c.elf(grow) + data[mid:])
    summary += ", %d bytes inserted at offset %d of %s" % (grow, mid, BIG_NAME)

    # --- fixed times, bottom-up so directories keep theirs ------------------------------------------
    for root in (v1, v2):
        for dirpath, dirnames, filenames in os.walk(root, topdown=False):
            for name in filenames + dirnames:
                p = os.path.join(dirpath, name)
                if not os.path.islink(p) and os.path.isdir(p):
                    os.chmod(p, 0o755)
                os.utime(p, (EPOCH, EPOCH), follow_symlinks=False)
        os.chmod(root, 0o755)
        os.utime(root, (EPOCH, EPOCH))

    def stats(root):
        files = size = dirs = symlinks = 0
        for dirpath, dirnames, filenames in os.walk(root):
            dirs += len(dirnames)
            for name in filenames:
                p = os.path.join(dirpath, name)
                if os.path.islink(p):
                    symlinks += 1
                else:
                    files += 1
                    size += os.path.getsize(p)
        return files, dirs, symlinks, size

    for name, root in (("v1", v1), ("v2", v2)):
        print("%s: %d files, %d directories, %d symbolic links, %d bytes" % ((name,) + stats(root)))
    print("v1 -> v2 (%s): %s" % (pattern, summary))


if __name__ == "__main__":
    main()
