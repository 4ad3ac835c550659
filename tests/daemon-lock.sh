#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# One process changes the device at a time: a one-shot `swupdated install` (or mark-good,
# mark-bad) refuses while the service runs, and the service waits for a one-shot command that
# holds the device. `swupdated status` only reads and always runs. A second instance of the
# service still stops at the bus name (tests/daemon-activation-transfer.sh), never at the lock.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

served_release
start_daemon
expect_exit 1 swupdated install "$T/v2.swu"
expect_stderr "swupdated runs as a service (it holds '$DEV/state'): use swupdatectl"
check "the refused command wrote slot B" not slot_holds "$DEV/rootfs-B" "$T/rootfs-2.img"
expect_exit 1 swupdated mark-good
expect_stderr "swupdated runs as a service"
expect_exit 0 swupdated status
expect_stdout "Booted slot:       A"
stop_daemon

# A one-shot command holds the device (flock(1) stands in for a long install): the service
# waits, says so, and comes up once the command is done.
rm -f "$T/held"
flock "$DEV/state" sh -c ": >'$T/held'; while [ -e '$T/held' ]; do sleep 0.1; done" &
holder=$!
wait_until 10 test -e "$T/held" || fail "flock did not take the lock"
"$SWUPDATED" --config "$DEV/swupdated.conf" >>"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
PIDS+=($DAEMON_PID)
check "the service does not say it waits" \
	wait_until 10 grep -q "Waiting for a one-shot swupdated command to finish" "$T/daemon.log"
# It owns its name (calls queue on the bus) and answers none of them yet.
check_not "the service answers while a command holds the device" busctl "$BUS" --timeout=2 \
	get-property io.swupdated.Updater1 /io/swupdated/Updater1 io.swupdated.Updater1 Version
rm -f "$T/held"
wait "$holder"
check "the service does not come up after the command" wait_until 10 daemon_ready
expect_exit 0 ctl install
check "slot B does not hold release 2" slot_holds "$DEV/rootfs-B" "$T/rootfs-2.img"
finish
