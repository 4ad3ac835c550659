#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# swupdatectl watch across an idle exit and a new start: it says when swupdated leaves the bus
# and when it is back.
. "${SRCDIR:-.}/tests/daemon-activation-lib.sh"

activation_setup
ctl watch >"$T/watch.out" 2>&1 &
watch_pid=$!
left() { grep -q "swupdated left the bus (idle exit or stop); waiting for it to come back" "$T/watch.out"; }
back_after_leaving() { sed -n '/swupdated left the bus/,$p' "$T/watch.out" | grep -q "swupdated is back on the bus"; }
# A property read starts the daemon, which exits 1 s later. Once watch is subscribed (it is as
# soon as it runs) it sees that exit; an exit before is no news to it, so this repeats until
# watch saw one.
for _ in 1 2 3; do
	prop State >/dev/null
	wait_gone 5
	wait_until 2 left && break
done
prop State >/dev/null # and it is back
wait_until 5 back_after_leaving || true
kill "$watch_pid"
wait "$watch_pid" 2>/dev/null || true
check "watch did not see swupdated leave: $(cat "$T/watch.out")" left
check "watch did not see swupdated come back: $(cat "$T/watch.out")" back_after_leaving
finish
