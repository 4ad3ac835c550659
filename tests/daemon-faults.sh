#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon against a misbehaving server (tests/fake-server.py on 127.0.0.1): more bytes than
# signed, wrong bytes, garbage metadata, 500s with Retry-After, a stalled body, Abort and SIGTERM
# during a slow transfer, and a connection dropped mid-blob that resumes with Range. Each failure
# ends with the right Result and Note, the booted slot and bootloader untouched, the daemon
# still running.
. "${SRCDIR:-.}/tests/daemon-lib.sh"
: "${SWUPDATECTL:?}"

device_setup grub
start_bus
release "$T/v2.swu" 2
publish "$T/v2.swu"
start_fake_server oversize
start_daemon
sed -i 's/^LowSpeedTimeoutSec=5/LowSpeedTimeoutSec=2/; s/^Retries=3/Retries=1/' "$DEV/swupdated.conf"

untouched() { # untouched WHAT: booted slot, bootloader and pending record as at the start
	expect_eq "$1: primary" "$(primary)" A
	expect_eq "$1: booted slot hash" "$(sha256sum <"$DEV/rootfs-A")" "$booted_hash"
	check "$1: an install is pending" test ! -e "$DEV/state/pending.json"
	[ "${2:-}" = stopped ] || expect_eq "$1: daemon still answers" "$(prop BootedSlot)" A
}
booted_hash=$(sha256sum <"$DEV/rootfs-A")

# scenario MODE RESULT NOTE: a fresh fake server in MODE, an install that must end in RESULT.
scenario() {
	stop_fake_server
	start_fake_server "$1"
	use_server "$SERVER"
	restart_daemon
	expect_exit 1 ctl install
	expect_eq "$1: result" "$(prop Result)" "$2"
	check "$1: the Note lacks '$3'" note_has "$3"
	untouched "$1"
	ctl reset >/dev/null || true
}
scenario oversize verify-failed "more than the"
scenario corrupt verify-failed "has SHA-256"
scenario stall transfer-failed "failed after 2 attempts"
# A resume answered with another range than asked for: never written at the wrong offset.
scenario wrong-range transfer-failed "the server sent another range"

# Garbage metadata and 500s: Check fails with a reason, polling backs off, the daemon lives on.
stop_fake_server
start_fake_server garbage
use_server "$SERVER"
restart_daemon
expect_exit 1 ctl check
expect_stderr "Release rejected"
untouched garbage
stop_fake_server
start_fake_server error500
use_server "$SERVER"
restart_daemon
expect_exit 1 ctl check
check "no retry scheduled after a 500" test "$(prop NextCheck)" -gt "$(prop LastCheck)"
untouched error500

# Abort and SIGTERM during a slow transfer: nothing is activated.
stop_fake_server
start_fake_server slow
use_server "$SERVER"
restart_daemon
call Install 'sa{sv}' "" 0 >/dev/null
wait_downloaded 1 # in the middle of writing slot B
expect_exit 0 ctl abort
wait_state finished
expect_eq "result after abort" "$(prop Result)" aborted
untouched abort
expect_exit 0 ctl reset
call Install 'sa{sv}' "" 0 >/dev/null
wait_downloaded 1 # in the middle of writing slot B
stop_daemon
untouched sigterm stopped
# The next start says what became of it (until Reset).
launch_daemon
expect_eq "result after SIGTERM" "$(prop Result)" aborted
check "note after SIGTERM" note_has "Interrupted: swupdated was stopped during the install"
expect_exit 0 ctl reset
# swupdatectl install does not wait forever for a daemon that went away (here: killed, and this
# bus cannot start it again).
ctl install >"$T/ctl.out" 2>"$T/ctl.err" &
ctl_pid=$!
wait_state transferring
kill -KILL "$DAEMON_PID"
rc=0
timeout 10 tail --pid="$ctl_pid" -f /dev/null || rc=$?
wait "$ctl_pid" || rc=$?
expect_eq "swupdatectl after the daemon died" "$rc" 2
check "swupdatectl did not say the daemon left: $(cat "$T/ctl.err")" \
	grep -q "swupdated left the bus during the install" "$T/ctl.err"
check "swupdatectl did not say the daemon stayed away: $(cat "$T/ctl.err")" \
	grep -q "swupdated did not come back" "$T/ctl.err"
untouched killed stopped
# Started again, it reports the install it died in.
launch_daemon
expect_eq "result after SIGKILL" "$(prop Result)" unknown-error
check "note after SIGKILL" note_has "Interrupted: swupdated stopped during the install"
expect_exit 0 ctl reset
stop_daemon

# resumed MODE WHAT: with the fake server in MODE, which drops a blob's connection once, an
# install resumes with a Range request and succeeds.
resumed() {
	stop_fake_server
	start_fake_server "$1"
	use_server "$SERVER"
	launch_daemon
	expect_exit 0 ctl install --reinstall
	expect_eq "result after $2" "$(prop Result)" success
	check "no Range request after $2: $(cat "$T/fake.log")" grep -q "GET /stable/blobs/.* bytes=" "$T/fake.log"
	check "slot B does not hold release 2 after $2" slot_holds "$DEV/rootfs-B" "$T/rootfs-2.img"
}

# A connection dropped mid-blob resumes with Range and succeeds.
sed -i 's/^Retries=1/Retries=3/' "$DEV/swupdated.conf"
resumed drop-once "a dropped connection"
# Nothing fetched twice: the bytes served for each blob add up to exactly its size.
for img in rootfs-2 appfs-2; do
	hex=$(sha256sum "$T/$img.img" | cut -d' ' -f1)
	sent=$(awk -v h="$hex" '$2 ~ h { s += $4 } END { print s + 0 }' "$T/fake.log")
	expect_eq "bytes served for $img" "$sent" "$(stat -c %s "$T/$img.img")"
done

# A resume the server answers in full (200, Range ignored): the bytes already written are
# skipped, and the install succeeds; a retry, not a verification failure.
expect_exit 0 ctl reset
stop_daemon
resumed drop-norange "a resume answered with 200"

# Retry-After is honoured up to the poll interval (3600 s): never the year 2153, never a value
# that wraps into a tight loop, an HTTP-date as well.
for mode in retry-huge retry-wrap retry-date; do
	[ "$(prop State)" != finished ] || ctl reset >/dev/null
	stop_daemon
	stop_fake_server
	start_fake_server "$mode"
	use_server "$SERVER"
	launch_daemon
	expect_exit 1 ctl check
	now=$(date +%s%6N)
	next=$(prop NextCheck)
	check "$mode: next check in $(((next - now) / 1000000)) s, not in the future" test "$next" -gt "$now"
	check "$mode: next check in $(((next - now) / 1000000)) s, not within the poll interval" \
		test "$next" -le $((now + 3601 * 1000000))
	before=$(grep -c "GET /stable/metadata.pb" "$T/fake.log")
	sleep 2
	expect_eq "$mode: polls in the next 2 s" "$(grep -c "GET /stable/metadata.pb" "$T/fake.log")" "$before"
done
# A Retry-After that is no valid value as a whole (a date, then junk past what the daemon reads)
# is no Retry-After: the first backoff (30 s) holds, never the date a cut value would give.
stop_daemon
stop_fake_server
start_fake_server retry-padded
use_server "$SERVER"
rm -f "$DEV/state/status.json" # the failures so far would double the backoff
launch_daemon
expect_exit 1 ctl check
now=$(date +%s%6N)
next=$(prop NextCheck)
check "retry-padded: next check in $(((next - now) / 1000000)) s, not the backoff's 30 s" \
	test "$next" -le $((now + 31 * 1000000))

# Start("") polls first: until that poll ends and its transfer begins, no other Start or Install
# may begin one (two transfers would share the inactive slot). Release 2 waits in slot B already,
# so the Start asks to reinstall it.
stop_daemon
stop_fake_server
start_fake_server slow-metadata
use_server "$SERVER"
launch_daemon
call Start 'sa{sv}' "" 1 reinstall b true >/dev/null || fail "Start(\"\") was refused"
expect_exit 1 call Start 'sa{sv}' "$T/v2.swu" 0
call Install 'sa{sv}' "$T/v2.swu" 0 >"$T/out" 2>&1 || true
check "Install during Start(\"\")'s poll was not refused as such: $(cat "$T/out")" \
	grep -q "a poll of the server ends" "$T/out"
wait_state transferred
expect_eq "source of the one transfer" "$(prop Source)" "$SERVER"
expect_exit 0 call Verify
wait_state verified
untouched "Start during a Start(\"\") poll"

# A server that drips bytes faster than any low-speed limit: a poll ends at PollTimeoutSec=, an
# error page is not read at all. Check() answers, and polling goes on.
sed -i 's/^ConnectTimeoutSec=5/ConnectTimeoutSec=5\nPollTimeoutSec=3/' "$DEV/swupdated.conf"
for mode in drip-metadata error-drip; do
	stop_daemon
	stop_fake_server
	start_fake_server "$mode"
	use_server "$SERVER"
	launch_daemon
	t0=$(date +%s)
	expect_exit 1 timeout 30 "$SWUPDATECTL" --address "$DBUS_SYSTEM_BUS_ADDRESS" check
	elapsed=$(($(date +%s) - t0))
	case $mode in
	drip-metadata) expect_stderr "Timeout was reached" ;;
	error-drip) expect_stderr "HTTP status 503" ;;
	esac
	check "$mode: Check() took $elapsed s" test "$elapsed" -le 10
	check "$mode: no next poll planned" test "$(prop NextCheck)" -gt "$(date +%s%6N)"
done
finish
