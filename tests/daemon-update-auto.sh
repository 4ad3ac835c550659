#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# AutoInstall=yes: a new release is installed by the daemon's own poll, which follows its start
# within about a second.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

served_release
AUTO_INSTALL=yes start_daemon
wait_state finished 30
expect_eq "result of the automatic install" "$(prop Result)" success
expect_eq "pending after the automatic install" "$(prop PendingSlot)" B
check "slot B does not hold release 2" slot_holds "$DEV/rootfs-B" "$T/rootfs-2.img"
finish
