#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A target that did not change since the installed release is copied from the active slot,
# never downloaded.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

served_release
start_daemon
# Release 2 installed and confirmed in slot B.
expect_exit 0 ctl install
boot_and_confirm B

# Release 3: a new rootfs, the same appfs.
head -c $((1024 * 1024 + 3)) /dev/urandom >"$T/rootfs-3.img"
release "$T/v3.swu" 3 --file rootfs="$T/rootfs-3.img" --file appfs="$T/appfs-2.img"
publish "$T/v3.swu"
app_hex=$(sha256sum "$T/appfs-2.img" | cut -d' ' -f1)
before=$(blob_requests "$app_hex")
expect_exit 0 ctl install
expect_eq "appfs blob requests" "$(blob_requests "$app_hex")" "$before"
check "slot A does not hold release 3 (appfs)" slot_holds "$DEV/appfs-A" "$T/appfs-2.img"
check "slot A does not hold release 3 (rootfs)" slot_holds "$DEV/rootfs-A" "$T/rootfs-3.img"
boot_and_confirm A
expect_eq "installed" "$(prop InstalledVersion)" 3
finish
