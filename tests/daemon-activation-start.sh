#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Zero cost while idle: nothing runs until a client reads a property, which starts swupdated
# through the shipped activation file; it exits again when idle.
. "${SRCDIR:-.}/tests/daemon-activation-lib.sh"

activation_setup
service=$T/services/io.swupdated.Updater1.service
check "the activation file lacks SystemdService=" grep -qx 'SystemdService=swupdated.service' "$service"
check "the activation file lacks User=" grep -qx 'User=root' "$service"

expect_eq "daemon before any call" "$(daemon_pid)" ""
expect_eq "State (activated)" "$(prop State)" inactive
pid=$(daemon_pid)
check "reading a property did not start swupdated" test -n "$pid"
wait_gone 5
expect_eq "idle exits" "$(exits)" 1
expect_eq "daemon after the idle exit" "$(daemon_pid)" ""
finish
