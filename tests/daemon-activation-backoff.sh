#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A backoff shorter than the timer period (30 s after one failure) keeps the daemon up, and
# survives a SIGTERM: the next start keeps the same retry.
. "${SRCDIR:-.}/tests/daemon-activation-lib.sh"

activation_setup
use_server "http://127.0.0.1:9/down"
expect_exit 1 ctl poll
pid=$(daemon_pid)
sleep 3 # three idle periods
expect_eq "the same process waits for its retry" "$(daemon_pid)" "$pid"
next=$(prop NextCheck)
last=$(prop LastCheck)
check "retry $(((next - last) / 1000)) ms after the failed poll, not 30 s" test $((next - last)) -ge 29000000
check "retry $(((next - last) / 1000)) ms after the failed poll, not 30 s" test $((next - last)) -le 31000000
kill -TERM "$pid"
wait_gone 5
expect_eq "NextCheck after a restart" "$(prop NextCheck)" "$next"
pid=$(daemon_pid)
sleep 2 # two idle periods
expect_eq "the new process waits for the retry too" "$(daemon_pid)" "$pid"
kill -TERM "$pid"
wait_gone 5
use_server "$SERVER"
expect_exit 0 ctl check
wait_gone 5
finish
