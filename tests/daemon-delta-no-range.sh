#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A server that ignores Range on the chunk store (nginx max_ranges 0: every answer is the whole
# store, 200): the daemon downloads the image whole, and the install succeeds.
. "${SRCDIR:-.}/tests/daemon-delta-lib.sh"

delta_setup "location /stable/chunks/ { max_ranges 0; }"
start_daemon

fallback 5 "Range ignored"
check "nginx did not ignore the Range" grep -q "^200 .*GET /stable/chunks/" <(tail -n +"$since" "$T/bytes.log")
# The log names the cause, not the size cap the whole store trips too.
check "the fallback's reason is not the ignored Range: $(grep "rest whole" "$T/daemon.log")" \
	grep -q "stopped at byte .*(the server ignored the Range request" "$T/daemon.log"
check_not "the fallback blamed the size: $(grep "rest whole" "$T/daemon.log")" \
	grep -q "rest whole.*sent more than" "$T/daemon.log"
finish
