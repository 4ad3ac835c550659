#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A release with a chunk index over a factory slot: nothing local to reuse, every block comes
# from the chunk store (Range requests); the release is then booted and confirmed.
. "${SRCDIR:-.}/tests/daemon-delta-lib.sh"

delta_device
delta_nginx
delta_release 1 block
start_daemon

expect_exit 0 ctl install
expect_eq "result of v1" "$(prop Result)" success
check "slot B does not hold version 1" slot_holds "$DEV/rootfs-B" "$T/rootfs-1.img"
check "no chunk store request for version 1" grep -q "GET /stable/chunks/" "$T/bytes.log"
echo "v1: fetched $(fetched) bytes, DownloadDone $(prop DownloadDone)"
boot_and_confirm B
finish
