#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A delta update: most chunks of version 2 come from version 1 in the active slot (B), the rest
# from Range requests on the chunk store, never the whole blob; the properties, status and
# history say how much was reused and downloaded.
. "${SRCDIR:-.}/tests/daemon-delta-lib.sh"

delta_setup
delta_release 2 block
start_daemon

since=$(($(lines) + 1))
expect_exit 0 ctl install
expect_eq "result of v2" "$(prop Result)" success
check "slot A does not hold version 2" slot_holds "$DEV/rootfs-A" "$T/rootfs-2.img"
got=$(fetched "$since")
size=$(stat -c %s "$T/rootfs-2.img")
dl=$(prop DownloadDone) reused=$(prop BytesReused)
echo "version 2: nginx sent $got bytes for a $size-byte image; DownloadDone $dl," \
	"DownloadTotal $(prop DownloadTotal), BytesReused $reused"
check "version 2 fetched $got bytes, 5% is $((size / 20))" test "$got" -lt $((size / 20))
expect_eq "rootfs blob of version 2 requests" "$(blob_requests "$(sha256sum "$T/rootfs-2.img" | cut -d' ' -f1)")" 0
check "BytesReused $reused" test "$reused" -gt $((size * 9 / 10))
check "DownloadDone $dl, nginx sent $got" test "$dl" -gt 0
check "DownloadDone $dl, nginx sent $got" test "$dl" -le "$got"
expect_eq "DownloadTotal" "$(prop DownloadTotal)" "$dl"
# The whole install's totals, also after a restart (the last target alone says little).
total=$(prop TotalWritten)
check "TotalWritten $total, the image is $size bytes" test "$total" -ge "$size"
check "TotalReused $(prop TotalReused)" test "$(prop TotalReused)" -ge "$reused"
check "TotalDownloaded $(prop TotalDownloaded), nginx sent $got" test "$(prop TotalDownloaded)" -le "$got"
restart_daemon
expect_eq "TotalWritten after a restart" "$(prop TotalWritten)" "$total"
expect_exit 0 ctl status
expect_stdout "Install: .* written into the slots, .* downloaded, .* reused from the slots"
check_not "status shows a whole install of nothing reused" grep -q " 0 B reused" "$T/out"
expect_exit 0 ctl history
expect_stdout "downloaded"
expect_exit 0 ctl reset
finish
