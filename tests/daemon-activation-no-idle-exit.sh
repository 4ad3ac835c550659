#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# IdleExitSec=0: a daemon the bus started stays up, as one started at boot does.
. "${SRCDIR:-.}/tests/daemon-activation-lib.sh"

activation_setup
sed -i 's|^IdleExitSec=.*|IdleExitSec=0|' "$DEV/swupdated.conf"
prop State >/dev/null
pid=$(daemon_pid)
sleep 3 # three times the idle time of the other scenarios
expect_eq "IdleExitSec=0: the same process after 3 s" "$(daemon_pid)" "$pid"
kill -TERM "$pid"
wait_gone 5
finish
