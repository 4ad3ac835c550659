#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A power cut (SIGKILL) during a delta install, twice: the booted slot B stays first, and the next
# install goes on where the last one stopped. Version 6 shares nothing with the slots: its
# 3.4 MB come from the chunk store, at 1 MB/s (MaxBytesPerSec=), which holds for all the ranges
# fetched side by side together.
. "${SRCDIR:-.}/tests/daemon-delta-lib.sh"

delta_setup
SEED=6 delta_release 6 block
start_daemon_1mbs

for at in 0 1200000; do
	ctl install >/dev/null 2>&1 &
	ctl_pid=$!
	wait_downloaded "$at" rootfs || true
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	wait "$ctl_pid" 2>/dev/null || true
	echo "killed at DownloadDone >= $at"
	launch_daemon
	expect_eq "booted slot after the cut at $at" "$(prop BootedSlot)" B
	expect_eq "primary after the cut at $at" "$(primary)" B
	expect_exit 0 ctl reset
done
since=$(($(lines) + 1))
t0=$(date +%s%N)
expect_exit 0 ctl install
t1=$(date +%s%N)
expect_eq "result of version 6 after two cuts" "$(prop Result)" success
check "slot A does not hold version 6" slot_holds "$DEV/rootfs-A" "$T/rootfs-6.img"
got=$(fetched "$since")
reused=$(prop BytesReused)
echo "version 6 after two cuts: nginx sent $got more bytes; BytesReused $reused"
check "the chunks written before the cut were not kept (BytesReused $reused)" test "$reused" -ge 1000000
check "the resumed install fetched $got bytes" test "$got" -lt 3000000
ms=$(((t1 - t0) / 1000000))
check "$got bytes in $ms ms: faster than MaxBytesPerSec=1000000" test "$ms" -ge $((got / 1000 * 8 / 10))
expect_exit 0 ctl reset
finish
