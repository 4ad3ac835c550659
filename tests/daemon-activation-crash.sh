#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# swupdatectl install while the daemon is killed (SIGKILL: a crash): it sees the daemon go,
# starts it again, and reports what the new one says; the device is consistent, and the same
# release installs afterwards.
. "${SRCDIR:-.}/tests/daemon-activation-lib.sh"

activation_setup
slow_transfers
ctl install >"$T/install.out" 2>"$T/install.err" &
ctl_pid=$!
wait_downloaded 1 # in the middle of writing slot B
kill -KILL "$(daemon_pid)"
rc=0
wait "$ctl_pid" || rc=$?
expect_eq "swupdatectl install exit status after the crash" "$rc" 1
check "install did not say the daemon left: $(cat "$T/install.err")" \
	grep -q "left the bus during the install" "$T/install.err"
check "install did not report the interruption: $(cat "$T/install.out")" \
	grep -q "Finished: unknown-error: Interrupted: swupdated stopped during the install" "$T/install.out"
expect_eq "PendingSlot after the crash" "$(prop PendingSlot)" ""
expect_eq "slot booted first after the crash" "$(primary)" A
check "the half-written slot B is bootable after the crash" bootenv_has B_OK=0
expect_exit 0 ctl reset
expect_exit 0 ctl install
expect_stdout "Finished: success"
expect_eq "PendingSlot" "$(prop PendingSlot)" B
expect_exit 0 ctl reset
finish
