#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A transfer in progress keeps the daemon up (about 2 s at 512 KiB/s), and so does a transferred
# release waiting for Apply; a second instance finds the name owned and exits before it touches
# any state; after the install the daemon exits, and the next start reports it.
. "${SRCDIR:-.}/tests/daemon-activation-lib.sh"

activation_setup
slow_transfers
before=$(exits)
expect_exit 0 call Start 'sa{sv}' "" 0
pid=$(daemon_pid)
wait_state transferring 10
# A second instance (a buggy script, a race with the bus) finds the name owned and exits
# before it reads or writes any state: the running install is not reported as interrupted.
history_lines() { if [ -f "$DEV/state/history.jsonl" ]; then wc -l <"$DEV/state/history.jsonl"; else echo 0; fi; }
history_before=$(history_lines)
expect_exit 1 "$SWUPDATED" --config "$DEV/swupdated.conf"
expect_stderr "another swupdated runs"
expect_eq "history lines after a second instance" "$(history_lines)" "$history_before"
wait_state transferred 30
expect_eq "the same process through the transfer" "$(daemon_pid)" "$pid"
expect_eq "idle exits during the transfer" "$(exits)" "$before"
# Transferred, waiting for Apply: client-visible work, it stays up (two idle periods here).
sleep 2
expect_eq "the same process while transferred" "$(daemon_pid)" "$pid"
expect_exit 0 call Apply
wait_state finished 30
expect_eq "Result" "$(prop Result)" success
wait_gone 5
expect_eq "Result after a restart" "$(prop Result)" success
expect_eq "PendingSlot after a restart" "$(prop PendingSlot)" B
check "Note after a restart" note_has "Version 2 installed into slot B"
expect_exit 0 ctl reset
wait_gone 5
reboot_into B
expect_exit 0 ctl mark-good
wait_gone 5
finish
