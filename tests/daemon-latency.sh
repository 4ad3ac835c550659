#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The event loop never blocks for long: while a 1 GiB unchanged target is copied from the active
# slot (and read back, and flushed), D-Bus property reads keep answering, each within 1 s
# (generous, for the sanitizer run). A local Verify() re-reading the slots likewise.
SLOT_SIZE=$((1024 * 1024 * 1024 + 16 * 1024 * 1024))
. "${SRCDIR:-.}/tests/daemon-lib.sh"
: "${SWUPDATECTL:?}"
[ "$(df --output=avail -k "$T" | tail -n1)" -gt $((8 * 1024 * 1024)) ] ||
	{ echo "SKIP: less than 8 GiB free in $T"; exit 77; }

device_setup grub
start_bus
start_nginx
# Installed: version 2, appfs a 1 GiB image in slot B (booted). Sparse zeros: nothing to write.
truncate -s 1G "$T/appfs.img"
printf 'rootfs v2\n' >"$T/rootfs-2.img"
release "$T/v2.swu" 2 --file rootfs="$T/rootfs-2.img" --file appfs="$T/appfs.img"
"$SWU" export-manifest --bundle "$T/v2.swu" --trusted-root-metadata "$T/root.pb" -o "$DEV/state/manifest.pb"
rm "$T/v2.swu"
truncate -s "$SLOT_SIZE" "$DEV/appfs-B"
reboot_into B
grub-editenv "$DEV/grubenv" set ORDER="B A"
# Version 3 changes rootfs only: appfs is copied from slot B to slot A.
printf 'rootfs v3\n' >"$T/rootfs-3.img"
release "$T/v3.swu" 3 --file rootfs="$T/rootfs-3.img" --file appfs="$T/appfs.img"
publish "$T/v3.swu"
rm "$T/v3.swu" "$T"/repo/stable/blobs/"$(sha256sum <"$T/appfs.img" | cut -d' ' -f1)"
start_daemon

call Install 'sa{sv}' "" 0 >/dev/null
sample_latency "$T/copy.lat"
read -r worst reads secs <"$T/copy.lat"
echo "install with a 1 GiB copy: $reads reads in $secs s, the slowest $worst s"
expect_eq "result" "$(prop Result)" success
check "slot A does not hold appfs" cmp -s -n $((1024 * 1024 * 1024)) "$DEV/appfs-A" "$T/appfs.img"
check "a property read took $worst s during the copy" awk -v w="$worst" 'BEGIN { exit !(w < 1.0) }'

# Verify() after Start() re-reads 1 GiB on the worker too.
expect_exit 0 ctl reset
call Start 'sa{sv}' "" 1 reinstall b true >/dev/null
wait_state transferred 120
call Verify >/dev/null
sample_latency "$T/verify.lat"
read -r worst reads secs <"$T/verify.lat"
echo "Verify() re-reading the slots: $reads reads in $secs s, the slowest $worst s"
expect_eq "state after Verify" "$(prop State)" verified
check "a property read took $worst s during Verify()" awk -v w="$worst" 'BEGIN { exit !(w < 1.0) }'
finish
