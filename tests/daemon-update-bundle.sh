#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A local bundle, and a whole bundle from a URL: streamed when its metadata comes first, staged
# in StagingDirectory= (and removed after) when its payloads come first.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

served_release
start_daemon
release "$T/v4.swu" 4

expect_exit 0 ctl install "$T/v4.swu"
expect_stdout "Finished: success"
expect_exit 0 ctl reset
cp "$T/v4.swu" "$T/repo/v4.swu"
expect_exit 0 ctl install "http://127.0.0.1:$PORT/v4.swu"
expect_stdout "Finished: success"
check "slot B does not hold release 4" slot_holds "$DEV/rootfs-B" "$T/rootfs-4.img"
check_not "a bundle with its metadata first was staged" grep "staging it in" "$T/daemon.log"
# Payloads before metadata: cannot be verified in order, so it goes through StagingDirectory=.
expect_exit 0 ctl reset
python3 "$SRCDIR/tests/forge.py" order "$T/v4.swu" "$T/repo/v4-payloads-first.swu" --payloads-first
expect_exit 0 "$SWU" verify-bundle --bundle "$T/repo/v4-payloads-first.swu" --self # valid, from a file
expect_exit 0 ctl install "http://127.0.0.1:$PORT/v4-payloads-first.swu"
expect_stdout "Finished: success"
check "the reordered bundle was not staged" \
	grep -q "cannot be verified while it streams: staging it" "$T/daemon.log"
check "the staged bundle was left behind" test -z "$(ls -A "$DEV/staging" 2>/dev/null)"
finish
