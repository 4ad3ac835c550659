#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The task guides of docs/guides/ are run as a reader runs them (tests/guides.py): every sh
# block in order in a scratch directory, with the build's swu, swupdated and swupdatectl and the
# guides' lab on PATH; a block's shown output must be what it prints. Blocks that need a board
# are shown, not run, and their stand-in runs instead (named in the output).
. "${SRCDIR:-.}/tests/lib.sh"
for tool in dbus-daemon busctl nginx grub-editenv mkfs.ext4 softhsm2-util; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
chmod 755 "$T"
bindir=$T/bin
mkdir -p "$bindir"
# Installed programs are on PATH by their own names; here the build's are.
ln -s "$SWU" "$SWUPDATECTL" "$SWUPDATED" "$bindir/"
export PATH=$bindir:$SRCDIR/docs/guides:$PATH
export SRCDIR BUILDDIR
guides=("$SRCDIR"/docs/guides/??-*.md)
check "docs/guides holds the eight guides" test "${#guides[@]}" -ge 8
check "the guides run as written" python3 "$SRCDIR/tests/guides.py" "$T/work" "${guides[@]}"
cat "$T/check.out"
finish
