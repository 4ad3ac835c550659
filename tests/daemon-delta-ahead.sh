#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Long ranges are requested ahead of their turn, then wait at their first byte. Version 7 is
# version 6 (already in slot A, in place) with six 256 KiB regions rewritten, 1 MiB apart: six
# ranges of frames, each longer than what is held in memory. At 1 MB/s each takes 0.25 s; the
# next one is asked for while the one before still streams, so its round trip overlaps it.
. "${SRCDIR:-.}/tests/daemon-delta-lib.sh"

delta_setup
SEED=6 image 6
in_slot A "$T/rootfs-6.img"
rewrite_regions 6 7 256
KEEP_IMAGE=1 delta_release 7 block
start_daemon_1mbs

expect_exit 0 ctl install
expect_eq "result of version 7" "$(prop Result)" success
check "slot A does not hold version 7" slot_holds "$DEV/rootfs-A" "$T/rootfs-7.img"
# The starts of the long frame ranges, in order; a start less than 0.15 s after the one before
# means it was asked for while that one still streamed.
starts=$(awk '$1 == 206 && $4 ~ /chunks/ && $2 > 200000 { printf "%.3f\n", $(NF - 1) - $NF }' "$T/bytes.log" | sort -n)
echo "version 7: long ranges started at $(echo $starts)"
check "version 7: expected at least 4 long ranges: $starts" test "$(echo "$starts" | wc -l)" -ge 4
check "version 7: no long range was requested ahead of its turn" \
	awk 'NR > 1 && $1 - prev < 0.15 { early++ } { prev = $1 } END { exit !(early >= 2) }' <<<"$starts"
expect_exit 0 ctl reset
# The index was kept in an unlinked file: nothing is left in the staging directory.
expect_eq "files left in StagingDirectory=" "$(find "$DEV/staging" -type f | wc -l)" 0
finish
