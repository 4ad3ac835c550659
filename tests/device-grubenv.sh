#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A power cut while the GRUB environment is written. grub-editenv truncates its file and writes
# it again; cut in between, the file would be empty and the boot script would take every slot
# for bootable, a half-written one too. swupdated edits a copy and writes the new block over the
# old one in place.
. "${SRCDIR:-.}/tests/device-lib.sh"

device_setup grub
release "$T/v2.swu" 2
cp "$DEV/grubenv" "$T/grubenv.before"

# A grub-editenv that dies in the middle of its write: truncated, nothing written.
mkdir -p "$T/bin"
cat >"$T/bin/grub-editenv" <<'SH'
#!/bin/sh
[ "$2" = set ] && { : >"$1"; kill -KILL $$; }
exec /usr/bin/grub-editenv "$@"
SH
chmod +x "$T/bin/grub-editenv"
PATH="$T/bin:$PATH" expect_exit 1 swupdated install "$T/v2.swu"
check "the GRUB environment changed: $(bootenv)" cmp -s "$DEV/grubenv" "$T/grubenv.before"
expect_eq "the booted slot stays first" "$(primary)" A
check "left behind: $(ls "$DEV")" test -z "$(find "$DEV" -maxdepth 1 -name 'grubenv?*')"

# With the real tool the same install switches, written over the same file (GRUB's save_env
# writes into the file's blocks: they must stay where they are).
inode=$(stat -c %i "$DEV/grubenv")
expect_exit 0 swupdated install "$T/v2.swu"
expect_eq "primary after install" "$(primary)" B
expect_eq "grubenv is the same file" "$(stat -c %i "$DEV/grubenv")" "$inode"
expect_eq "and keeps its size" "$(stat -c %s "$DEV/grubenv")" 1024
check "left behind: $(ls "$DEV")" test -z "$(find "$DEV" -maxdepth 1 -name 'grubenv?*')"
check "B_OK not 1" bootenv_has B_OK=1
finish
