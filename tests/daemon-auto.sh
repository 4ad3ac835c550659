#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# AutoInstall=yes over time: a failed install does not stop the next poll from installing.
. "${SRCDIR:-.}/tests/daemon-lib.sh"
: "${SWUPDATECTL:?}"

device_setup grub
start_bus
release "$T/v2.swu" 2
publish "$T/v2.swu"
start_fake_server corrupt-once
AUTO_INSTALL=yes POLL_INTERVAL=2 start_daemon

# The first download is corrupt: verify-failed. Two seconds later the next poll starts over.
for _ in $(seq 200); do grep -q '"result":"failed"' "$DEV/state/history.jsonl" 2>/dev/null && break; sleep 0.1; done
check "the corrupt download did not fail" grep -q '"result":"failed"' "$DEV/state/history.jsonl"
for _ in $(seq 200); do [ "$(prop PendingSlot)" = B ] && break; sleep 0.1; done
expect_eq "after a failure, the next poll installs" "$(prop Result)" success
expect_eq "pending" "$(prop PendingSlot)" B
check "slot B does not hold release 2" slot_holds "$DEV/rootfs-B" "$T/rootfs-2.img"

finish
