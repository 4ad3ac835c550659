#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A server that drops ranges while they wait: each is asked for again, no retry counted. The fake
# server drops every long range of the store once, after 64 KiB (as a server's idle timeout
# drops a connection a client does not read). Version 9 is version 7 (already in slot A) with
# six other 256 KiB regions rewritten: six long ranges; all but the first are asked for while the
# one before streams (MaxBytesPerSec=1000000), so their drops show when their turn comes.
. "${SRCDIR:-.}/tests/daemon-delta-lib.sh"

delta_device
booted_release 1
SEED=6 image 6
rewrite_regions 6 7 256
rewrite_regions 7 9 640
in_slot A "$T/rootfs-7.img"
KEEP_IMAGE=1 delta_release 9 block
start_fake_server drop-parked
start_daemon_1mbs

expect_exit 0 ctl install
expect_eq "result of version 9" "$(prop Result)" success
check "slot A does not hold version 9" slot_holds "$DEV/rootfs-A" "$T/rootfs-9.img"
waited=$(grep -c "a range dropped while it waited" "$T/daemon.log" || true)
counted=$(grep -c "interrupted at store byte" "$T/daemon.log" || true)
echo "version 9: the server dropped $(grep -c " 65536 " "$T/fake.log" || true) ranges;" \
	"$waited asked for again as waiting ranges, $counted retries counted"
check "version 9: $waited drops of waiting ranges asked for again" test "$waited" -ge 4
check "version 9: $counted drops counted as retries" test "$counted" -le 1
check_not "version 9 fell back to the blob" grep "Delta update of 'rootfs' stopped" "$T/daemon.log"
expect_exit 0 ctl reset
finish
