#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The timer's call: ScheduledCheck polls (a 200), then the daemon exits; what clients read is the
# same after the next start, and the first poll after it is a 304 (its ETag was kept).
. "${SRCDIR:-.}/tests/daemon-activation-lib.sh"

activation_setup
expect_exit 0 ctl poll
expect_stdout "Version 2 is available"
wait_gone 5
ctl --json status >"$T/before.json"
wait_gone 5
ctl --json status >"$T/after.json"
json_check "$T/after.json" 'd["AvailableVersion"] == 2 and d["LastCheck"] > 0 and d["NextCheck"] == d["LastCheck"] + 3600 * 10**6'
check "state differs after a restart" diff "$T/before.json" "$T/after.json"
wait_gone 5
expect_exit 0 ctl poll
expect_stdout "Version 2 is available"
expect_eq "metadata answers: 200 then 304" \
	"$(grep -o 'GET /stable/metadata.pb HTTP/1.1" [0-9]*' "$T/access.log" | awk '{ print $NF }' | tr '\n' ' ')" "200 304 "
wait_gone 5
finish
