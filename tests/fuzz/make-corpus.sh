#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes a seed corpus for fuzz-bundle into DIR, made with swu (no committed blobs):
# signed bundles with and without root, metadata files, a manifest, cut-down variants, and a
# chunk index and chunk store.
set -euo pipefail
SWU=${SWU:?}
out=$(realpath -m "$1")
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
cp unsigned.pb signed.pb with-root.pb root.pb manifest.pb "$out/"
cp repo/metadata.pb "$out/metadata.pb"
size=$(stat -c %s with-root.pb)
for cut in 1 2 5 17 $((size / 2)) $((size - 1)); do
	head -c "$cut" with-root.pb >"$out/cut-$cut.pb"
done
# The fuzz target's delta image (the same generator as fuzz-bundle.c), its chunk index and its
# chunk store: the store is what the target feeds into a delta install.
python3 - fuzz.img <<'PY'
import sys
x, out = 1, bytearray()
for i in range(96 * 1024):
    kind = (i // 4096) % 3
    x = (x * 1103515245 + 12345) & 0xFFFFFFFF
    out.append(0 if kind == 0 else (x >> 24) % (8 if kind == 1 else 255))
open(sys.argv[1], "wb").write(out)
PY
"$SWU" create-empty-bundle delta.pb
"$SWU" add-file-to-bundle --bundle delta.pb --file fuzz.img --new-name img --chunk-index=block >/dev/null
"$SWU" sign-bundle --bundle delta.pb --key targets # publish refuses what every device refuses
"$SWU" publish --bundle delta.pb --dir delta-repo >/dev/null
store=$(ls delta-repo/chunks/)
cp "delta-repo/chunks/$store" "$out/store"
cp "delta-repo/blobs/$store" "$out/chunk-index" # the store is named by its index
