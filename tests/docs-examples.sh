#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The boot scripts in docs/boot-integration.md are the files the VM test boots
# (docs/examples/): each must appear there verbatim, so the documentation is what was tested.
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
. "$SRCDIR/tests/lib.sh"
for f in grub.cfg boot.cmd loader.conf initramfs-tools/hooks/swupdated-verity \
	initramfs-tools/scripts/local-top/swupdated-verity; do
	check "docs/boot-integration.md does not include docs/examples/$f verbatim" python3 -c \
		'import sys; sys.exit(0 if open(sys.argv[1]).read() in open(sys.argv[2]).read() else 1)' \
		"$SRCDIR/docs/examples/$f" "$SRCDIR/docs/boot-integration.md"
done
# The initramfs script is POSIX sh (initramfs-tools runs it with busybox or klibc sh).
for f in initramfs-tools/hooks/swupdated-verity initramfs-tools/scripts/local-top/swupdated-verity; do
	check "docs/examples/$f: sh syntax" sh -n "$SRCDIR/docs/examples/$f"
done
finish
