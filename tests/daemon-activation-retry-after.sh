#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Retry-After across exits: the server asks to wait; the wait (capped at the 5 s interval) is no
# shorter than a timer period, so the daemon exits; a timer run before it ends is answered from
# the cache without a request, and the daemon stays for the rest of the wait. A successful poll
# after it starts the backoff over.
. "${SRCDIR:-.}/tests/daemon-activation-lib.sh"

activation_setup retry-huge
sed -i 's|^PollIntervalSec=.*|PollIntervalSec=5|' "$DEV/swupdated.conf"
expect_exit 1 ctl poll
expect_stderr "HTTP status 503"
t0=$(date +%s)
wait_gone 5
expect_eq "status.json failures" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["failures"])' "$DEV/state/status.json")" 1
requests=$(fake_polls)
expect_exit 0 ctl poll
expect_eq "requests during the server's Retry-After" "$(fake_polls)" "$requests"
pid=$(daemon_pid)
# It polls by itself when the wait ends (about 5 s after the failed poll), then goes.
wait_until 10 polled_since "$requests" || true
check "no retry when the Retry-After ended" polled_since "$requests"
check "the retry came before the Retry-After ended" test $(($(date +%s) - t0)) -ge 4
expect_eq "the same process waited for the retry" "$(daemon_pid)" "$pid"
back_to_nginx # a successful poll: the backoff starts over
finish
