#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A small valid bundle truncated at every byte offset and with each byte flipped:
# `swu verify-bundle` always rejects (exit 1), never crashes (no signal, no other status).
. "${SRCDIR:-.}/tests/lib.sh"

printf 'tiny rootfs' >rootfs.img
printf 'tiny app' >app.img
release small.pb 1 --root root.pb --compatible none --file rootfs=rootfs.img --file appfs=app.img
expect_exit 0 "$SWU" verify-bundle --bundle small.pb --trusted-root-metadata root.pb

size=$(stat -c %s small.pb)
echo "bundle of $size bytes"
for ((i = 1; i < size; i++)); do
	head -c "$i" small.pb >cut.pb
	expect_exit 1 "$SWU" verify-bundle --bundle cut.pb --trusted-root-metadata root.pb
done
for ((i = 0; i < size; i++)); do
	cp small.pb flip.pb
	flip_byte flip.pb "$i"
	expect_exit 1 "$SWU" verify-bundle --bundle flip.pb --trusted-root-metadata root.pb
done
finish
