#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A poll with nothing new, against nginx on 127.0.0.1: the release is announced, the second poll
# is answered 304, nothing is downloaded, the daemon stays inactive and says when it checked and
# when it checks next. A channel that is not there (a typo in Server=) is an error, not "up to
# date".
. "${SRCDIR:-.}/tests/daemon-lib.sh"

served_release
start_daemon

expect_exit 0 ctl check
expect_stdout "Version 2 is available"
expect_exit 0 ctl check
expect_eq "304 on the second poll" "$(tail -n1 "$T/access.log" | awk '{print $9}')" 304
check_not "a poll downloaded a blob" grep "/blobs/" "$T/access.log"
expect_eq "state after polls" "$(prop State)" inactive
expect_eq "available" "$(prop AvailableVersion)" 2
last=$(prop LastCheck) next=$(prop NextCheck)
check "LastCheck $last is not set" test "$last" -gt 0
check "NextCheck $next is not after LastCheck $last" test "$next" -gt "$last"

use_server "http://127.0.0.1:$PORT/stabel"
restart_daemon
expect_exit 1 ctl check
expect_stderr "No release published at http://127.0.0.1:$PORT/stabel/metadata.pb (HTTP status 404)"
check "the Note does not name the missing channel" note_has "stabel/metadata.pb"
check "LastCheck $(prop LastCheck) does not record the failed poll" test "$(prop LastCheck)" -gt "$last"
expect_eq "available from a channel that is not there" "$(prop AvailableVersion)" 0
finish
