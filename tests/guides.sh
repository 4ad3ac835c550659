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
# Under --enable-asan: memory errors stop a guide, leaks do not. Guide 02 signs through libp11's
# engine, whose leaks on a refused PIN are its own and, the engine unloaded, have no frames a
# suppression could name (tests/swu-pkcs11.sh holds swu to its own); the shell and unit tests are
# where leaks of this project's code are found.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
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
