#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Access with the shipped bus policy: properties and GetHistory for everyone, the rest for root
# and group 'swupdate'.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

served_release
start_daemon

object=(io.swupdated.Updater1 /io/swupdated/Updater1 io.swupdated.Updater1)
expect_exit 0 runuser -u nobody -- busctl "$BUS" get-property "${object[@]}" State
expect_exit 0 runuser -u nobody -- busctl "$BUS" call "${object[@]}" GetHistory u 5
for m in Check Abort Reset MarkGood MarkBad Verify Apply; do
	expect_exit 1 runuser -u nobody -- busctl "$BUS" call "${object[@]}" $m
	expect_stderr "Access denied"
done
# swupdatectl says who may call, not the bus policy's rule dump.
expect_exit 1 runuser -u nobody -- "$SWUPDATECTL" --address "$DBUS_SYSTEM_BUS_ADDRESS" install
expect_stderr "only root and members of the group 'swupdate' may do this"
check_not "the bus policy's rules on stderr: $(cat "$T/err")" grep -q "Rejected send message\|matched rules" "$T/err"
expect_exit 0 ctl history
finish
