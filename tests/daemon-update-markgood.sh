#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Reboot into the installed slot and MarkGood: what a client reads survives the daemon's restart
# (the release seen, when it was checked); MarkGood installs the release, and with nothing
# pending confirms the booted slot again (health checks on every boot); MarkBad has nothing to
# reject; the history lists the confirmation. Status says what the pending install waits for,
# before and after the reboot.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

served_release
start_daemon
expect_exit 0 ctl check
expect_exit 0 ctl install
expect_exit 0 ctl status
expect_stdout "Pending slot: B (waiting for a reboot into it)"
expect_exit 0 ctl reset

last_check=$(prop LastCheck)
reboot_into B
restart_daemon
expect_eq "booted" "$(prop BootedSlot)" B
expect_exit 0 ctl status
expect_stdout "Pending slot: B (booted, waiting for mark-good or mark-bad)"
expect_stdout "Note: Version 2 runs from slot B and waits for its confirmation"
expect_eq "available after a restart" "$(prop AvailableVersion)" 2
expect_eq "last check after a restart" "$(prop LastCheck)" "$last_check"
expect_exit 0 ctl mark-good
expect_eq "installed" "$(prop InstalledVersion)" 2
expect_eq "pending after mark-good" "$(prop PendingSlot)" ""
expect_exit 0 ctl mark-good # nothing pending: confirms the booted slot again (health checks)
expect_exit 1 ctl mark-bad
expect_stderr "no update is pending"
expect_exit 0 ctl history
expect_stdout "mark-good"
# The server still offers version 2: a poll says so (not "available"), install says so and
# writes nothing; --reinstall installs.
[ "$(prop State)" != finished ] || expect_exit 0 ctl reset
expect_exit 0 ctl check
check "the Note of a poll that finds the installed version" \
	note_has "^Up to date: the server offers version 2 (installed 2)$"
expect_exit 0 ctl install
expect_stdout "Up to date: version 2 is installed and the server offers version 2"
expect_eq "pending after an install that found nothing newer" "$(prop PendingSlot)" ""
expect_exit 0 ctl install --reinstall
expect_stdout "Version 2 installed into slot A"
finish
