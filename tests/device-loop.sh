#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The same install on real block devices (loop devices): slot sizes from BLKGETSIZE64, the page
# cache dropped before reading back, and a payload one byte too large refused. Needs root and
# loop devices; skipped (77) otherwise.
. "${SRCDIR:-.}/tests/device-lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v losetup >/dev/null || ! losetup -f >/dev/null 2>&1; then
	echo "SKIP: needs root and loop devices"
	exit 77
fi
loops=()
cleanup() {
	for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT

device_setup grub
for s in rootfs-A rootfs-B appfs-A appfs-B; do
	l=$(losetup -f --show "$DEV/$s") || { echo "SKIP: losetup failed"; exit 77; }
	loops+=("$l")
	sed -i "s|^Device=$DEV/$s\$|Device=$l|" "$DEV/swupdated.conf"
done
release "$T/v2.swu" 2

expect_exit 0 swupdated install "$T/v2.swu"
check "the loop device of rootfs B does not hold release 2" slot_holds "${loops[1]}" "$T/rootfs-2.img"
check "the loop device of appfs B does not hold release 2" slot_holds "${loops[3]}" "$T/appfs-2.img"
reboot_into B
expect_exit 0 swupdated mark-good
expect_eq "installed" "$(status_field installed_version)" 2

head -c $((SLOT_SIZE + 1)) /dev/zero >"$T/big.img"
release "$T/big.swu" 3 --file rootfs="$T/big.img"
expect_exit 1 swupdated install "$T/big.swu"
expect_stderr "its slot only $SLOT_SIZE"
finish
