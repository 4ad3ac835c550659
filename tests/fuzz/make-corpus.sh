#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes a seed corpus for fuzz-bundle into DIR, made with swu (no committed blobs):
# signed bundles with and without root, metadata files, a manifest, cut-down variants, and a
# chunk index; with DELTA_DIR, one for fuzz-delta too: the chunk stores of its image (block and
# byte-granular indexes) behind flags and range answers that reach batches, in-place and active
# chunks, level 2 at block boundaries and at any byte, and ranges answered short, long or
# elsewhere.
#   make-corpus.sh DIR [DELTA_DIR]
set -euo pipefail
SWU=${SWU:?}
out=$(realpath -m "$1")
delta_out=${2:+$(realpath -m "$2")}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$SWU" generate-key root >/dev/null
"$SWU" generate-key targets >/dev/null
"$SWU" create-root-metadata --append-root-key root.pub --append-targets-key targets.pub -o root.pb
"$SWU" sign-root-metadata --root-metadata root.pb --root-key root
printf 'rootfs' >a
printf 'user manifest' >user_manifest
"$SWU" create-empty-bundle --compatible acme --expires 2099-01-01T00:00:00Z unsigned.pb
"$SWU" add-file-to-bundle --bundle unsigned.pb --file a --new-name rootfs
"$SWU" add-file-to-bundle --bundle unsigned.pb --file user_manifest
cp unsigned.pb signed.pb
"$SWU" sign-bundle --bundle signed.pb --key targets
cp signed.pb with-root.pb
"$SWU" add-root-metadata-to-bundle --append-root-metadata root.pb --bundle with-root.pb
"$SWU" export-manifest --bundle with-root.pb --trusted-root-metadata root.pb -o manifest.pb
"$SWU" publish --bundle with-root.pb --dir repo >/dev/null
# a rotation to root 2 that carries root 1 as its chain (root_chain)
"$SWU" generate-key root2 >/dev/null
"$SWU" create-root-metadata --append-root-key root2.pub --append-targets-key targets.pub \
	--previous root.pb -o root2.pb
"$SWU" sign-root-metadata --root-metadata root2.pb --root-key root 2>/dev/null
"$SWU" sign-root-metadata --root-metadata root2.pb --root-key root2
mkdir -p chain && cp root.pb chain/1.pb
cp signed.pb with-chain.pb
"$SWU" add-root-metadata-to-bundle --append-root-metadata root2.pb --bundle with-chain.pb \
	--root-chain chain >/dev/null
cp unsigned.pb signed.pb with-root.pb with-chain.pb root.pb manifest.pb "$out/"
cp repo/metadata.pb "$out/metadata.pb"
size=$(stat -c %s with-root.pb)
for cut in 1 2 5 17 $((size / 2)) $((size - 1)); do
	head -c "$cut" with-root.pb >"$out/cut-$cut.pb"
done
# fuzz-delta's image (the generator of fuzz-delta.c), its chunk indexes (block-aligned and
# byte-granular, several chunks each: fuzz-bundle's seeds too) and its chunk stores.
python3 - fuzz.img <<'PY'
import sys
x, out = 1, bytearray()
for i in range(192 * 1024):
    kind = (i // 4096) % 4
    x = (x * 1103515245 + 12345) & 0xFFFFFFFF
    out.append(0 if kind == 0 else (x >> 24) % (255 if kind == 3 else 8))
open(sys.argv[1], "wb").write(out)
PY
for chunking in block byte; do
	"$SWU" create-empty-bundle "$chunking.pb"
	"$SWU" add-file-to-bundle --bundle "$chunking.pb" --file fuzz.img --new-name img \
		--chunk-index=$chunking >/dev/null
	"$SWU" sign-bundle --bundle "$chunking.pb" --key targets # publish refuses what devices refuse
	"$SWU" publish --bundle "$chunking.pb" --dir "$chunking-repo" >/dev/null
	store=$(ls "$chunking-repo/chunks/")
	cp "$chunking-repo/chunks/$store" "$chunking.store"
	cp "$chunking-repo/blobs/$store" "$out/chunk-index-$chunking" # a store is named by its index
done
[ -n "$delta_out" ] || exit 0

# A patch store of the block-indexed image for fuzz-delta's block active slot (the image two
# blocks further in, after 0x55 bytes, with its block 5 changed): that slot published as
# release 1, then the image as release 2.
python3 - fuzz.img active.img <<'PY'
import sys
img = open(sys.argv[1], "rb").read()
shift = 2 * 4096
act = bytearray(b"\x55" * shift + img[:len(img) - shift])
for i in range(4096):
    act[shift + 5 * 4096 + i] ^= 0xFF
open(sys.argv[2], "wb").write(bytes(act))
PY
for v in 1 2; do
	f=active.img
	[ "$v" = 1 ] || f=fuzz.img
	"$SWU" create-empty-bundle --target-metadata-version "$v" "patch-$v.pb"
	"$SWU" add-file-to-bundle --bundle "patch-$v.pb" --file "$f" --new-name img \
		--chunk-index=block >/dev/null
	"$SWU" sign-bundle --bundle "patch-$v.pb" --key targets
	"$SWU" publish --bundle "patch-$v.pb" --dir patch-repo >/dev/null
done
cp "patch-repo/chunks/$(ls patch-repo/chunks/ | grep -- -from-)" patch.store

# The store of a block index without the rolling flag (as swu made them before the flag): the
# same frames, records without the rolling hash (12 bytes a block, not 16).
python3 - block.store "block-repo/blobs/$(ls block-repo/chunks/)" aligned.store <<'PY'
import struct, sys
store, index = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
n = struct.unpack_from("<I", index, 44)[0]
lengths = [struct.unpack_from("<I", index, 48 + 44 * i)[0] for i in range(n)]
blocks = [(l + 4095) // 4096 for l in lengths]
old_end, new_end = 8 + 8 * n + 16 * sum(blocks), 8 + 8 * n + 12 * sum(blocks)
out, at = bytearray(store[:8]), 8
for nb in blocks:
    out += struct.pack("<Q", struct.unpack_from("<Q", store, at)[0] - (old_end - new_end))
    for k in range(nb):
        out += store[at + 8 + 16 * k:at + 8 + 16 * k + 12]
    at += 8 + 16 * nb
assert at == old_end and len(out) == new_end
open(sys.argv[3], "wb").write(out + store[old_end:])
PY

# fuzz-delta's inputs: a flags byte, an index byte, eight range answers, the store (see
# fuzz-delta.c).
mkdir -p "$delta_out"
# seed NAME FLAGS SCRIPT STORE [INDEX]: FLAGS and INDEX (one byte each, INDEX 00 by default) and
# SCRIPT (eight) in hex.
seed() {
	printf "$(echo "$2${5:-00}$3" | sed 's/../\\x&/g')" | cat - "$4" >"$delta_out/$1"
}
exact=0000000000000000
seed block-batch-8 00 $exact block.store            # batches of 8 blocks: a chunk each
seed block-whole 06 $exact block.store              # one batch
seed block-gap-join-local 70 $exact block.store     # 32 KiB gaps, 8 KiB of local bytes at most
seed block-nothing-local 88 $exact block.store      # no active slot, nothing in place
seed byte-batch-8 81 $exact byte.store              # rolling hashes, nothing in place
seed byte-pieces a3 04f0a8fc104c8c18 byte.store     # answers in pieces of 1 to 4096 bytes
seed byte-short-long 01 0005020a00030906 byte.store # answers short, long and from elsewhere
seed block-short-long 00 0105020a0d030906 block.store
seed aligned-batch-8 00 $exact aligned.store 01      # no rolling hashes: level 2 at block boundaries
seed aligned-short-long 70 0105020a0d030906 aligned.store 01
seed patch-batch-8 00 $exact patch.store 02           # a patch store: a frame a chunk, references
seed patch-whole 86 $exact patch.store 02             # one batch, nothing in place
seed patch-short-long 70 0105020a0d030906 patch.store 02
