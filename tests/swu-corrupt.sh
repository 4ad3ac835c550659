#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A small valid bundle truncated at every byte offset and with each byte flipped:
# `swu verify-bundle` always rejects (exit 1), never crashes (no signal, no other status).
. "${SRCDIR:-.}/tests/lib.sh"

make_keys
"$SWU" create-empty-bundle --target-metadata-version 1 small.pb
printf 'tiny rootfs' >rootfs.img
printf 'tiny app' >app.img
"$SWU" add-root-metadata-to-bundle --append-root-metadata root.pb --bundle small.pb
"$SWU" add-file-to-bundle --bundle small.pb --file rootfs.img --new-name rootfs
"$SWU" add-file-to-bundle --bundle small.pb --file app.img --new-name appfs
"$SWU" sign-bundle --bundle small.pb --key targets
expect_exit 0 "$SWU" verify-bundle --bundle small.pb --trusted-root-metadata root.pb

size=$(stat -c %s small.pb)
echo "bundle of $size bytes"
for ((i = 1; i < size; i++)); do
	head -c "$i" small.pb >cut.pb
	expect_exit 1 "$SWU" verify-bundle --bundle cut.pb --trusted-root-metadata root.pb
done
for ((i = 0; i < size; i++)); do
	cp small.pb flip.pb
	byte=$(od -An -tu1 -j "$i" -N1 small.pb | tr -d ' ')
	printf "$(printf '\\%03o' $((byte ^ 255)))" | dd of=flip.pb bs=1 seek="$i" conv=notrunc status=none
	expect_exit 1 "$SWU" verify-bundle --bundle flip.pb --trusted-root-metadata root.pb
done
finish
