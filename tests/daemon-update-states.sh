#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A release through every state, each announced on the bus (PropertiesChanged), into slot B,
# which the bootloader tries next; MarkGood is refused until the device booted it.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

served_release
start_daemon

busctl "$BUS" monitor --match "type='signal',interface='org.freedesktop.DBus.Properties'" \
	io.swupdated.Updater1 >"$T/monitor.log" 2>&1 &
PIDS+=($!)
# busctl says so once the bus made it a monitor: from then on it sees every signal.
wait_until 10 grep -q "Monitoring bus message stream" "$T/monitor.log" || fail "busctl monitor did not start"
expect_exit 0 ctl install
expect_stdout "Finished: success"
# The last state's signal reached the monitor (it prints each message as it comes).
wait_until 10 grep -q '"finished"' "$T/monitor.log" || true
for s in transferring transferred verifying verified applying finished; do
	check "state '$s' was never announced" grep -q "\"$s\"" "$T/monitor.log"
done
expect_eq "result" "$(prop Result)" success
expect_eq "pending slot" "$(prop PendingSlot)" B
expect_eq "primary" "$(primary)" B
check "slot B does not hold release 2 (rootfs)" slot_holds "$DEV/rootfs-B" "$T/rootfs-2.img"
check "slot B does not hold release 2 (appfs)" slot_holds "$DEV/appfs-B" "$T/appfs-2.img"
expect_exit 1 ctl mark-good # not booted into it yet
expect_stderr "not booted yet (reboot first)"
expect_exit 0 ctl reset
expect_eq "state after reset" "$(prop State)" inactive
finish
