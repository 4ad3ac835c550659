#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# SIGTERM in the middle of an install: the device stays as it was (the booted slot first, the
# half-written one not bootable), and the next activation reports it (Result, Note, history).
. "${SRCDIR:-.}/tests/daemon-activation-lib.sh"

activation_setup
slow_transfers
expect_exit 0 call Install 'sa{sv}' "" 0
wait_downloaded 1 # in the middle of writing slot B
kill -TERM "$(daemon_pid)"
wait_gone 5
expect_eq "Result after SIGTERM" "$(prop Result)" aborted
check "Note after SIGTERM" note_has "Interrupted: swupdated was stopped during the install"
expect_eq "PendingSlot after SIGTERM" "$(prop PendingSlot)" ""
expect_eq "slot booted first after SIGTERM" "$(primary)" A
check "the half-written slot B is bootable after SIGTERM" bootenv_has B_OK=0
expect_exit 0 ctl history
expect_stdout "aborted .*Interrupted"
expect_exit 0 ctl reset
finish
