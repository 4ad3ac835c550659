#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Channels: [Channels] in swupdated.conf lists where a device may be moved; swupdatectl channel
# NAME (SetChannel) moves it, polls the new channel at once, and the choice outlives a restart.
# A name the configuration does not list is refused (InvalidArgument, naming those it does), and
# so is a change while an install runs. Back to Server= with --default. A configuration that no
# longer lists the chosen channel falls back to Server=. (Callers outside root and group
# swupdate are refused: tests/daemon-access.sh.)
. "${SRCDIR:-.}/tests/daemon-lib.sh"

served_release # stable: version 2
release "$T/v3.swu" 3
"$SWU" publish --bundle "$T/v3.swu" --dir "$T/repo/beta" >/dev/null
BETA=${SERVER%/stable}/beta
conf_add Channels "beta=$BETA"
conf_add Channels "stable=$SERVER"
start_daemon

expect_exit 0 ctl channel
expect_stdout "^Channel: none (Server=)$"
expect_stdout "^Channels: stable beta$"
expect_exit 0 ctl check
expect_stdout "Version 2 is available"

# To beta: polled at once, AvailableVersion from there.
expect_exit 0 ctl channel beta
expect_stdout "^Channel: beta$"
expect_eq "Channel" "$(prop Channel)" beta
wait_until 10 test "$(prop AvailableVersion)" = 3 || fail "beta was not polled: $(prop Note)"
check "the log names the channel" grep -q "Channel 'beta' chosen: polling $BETA" "$T/daemon.log"
expect_exit 0 ctl status
expect_stdout "^     Channel: beta$"
check "the choice is kept" grep -qx beta "$DEV/state/channel"

# A restart keeps it.
restart_daemon
expect_eq "Channel after a restart" "$(prop Channel)" beta
expect_exit 0 ctl check
expect_stdout "Version 3 is available"
check "beta was polled after the restart" grep -q '"GET /beta/metadata.pb' "$T/access.log"

# Not a channel of this device: refused, nothing changes.
expect_exit 1 ctl channel nightly
expect_stderr "Cannot change the channel: 'nightly' is not one of this device's channels (stable, beta: \[Channels\] in $DEV/swupdated.conf)"
expect_eq "the D-Bus error" "$(busctl "$BUS" call io.swupdated.Updater1 /io/swupdated/Updater1 \
	io.swupdated.Updater1 SetChannel s nightly 2>&1)" \
	"Call failed: Cannot change the channel: 'nightly' is not one of this device's channels (stable, beta: [Channels] in $DEV/swupdated.conf)"
expect_exit 1 ctl channel "../etc"
expect_eq "Channel after refusals" "$(prop Channel)" beta

# Not while an install runs: one transferred, waiting for Apply.
busctl "$BUS" call io.swupdated.Updater1 /io/swupdated/Updater1 io.swupdated.Updater1 \
	Start 'sa{sv}' "" 0 || fail "Start failed"
wait_state transferred 60
expect_exit 1 ctl channel stable
expect_stderr "SetChannel is not possible in state 'transferred'"
expect_eq "Channel during an install" "$(prop Channel)" beta
expect_exit 0 ctl abort
expect_exit 0 ctl reset

# Back to Server=.
expect_exit 0 ctl channel --default
expect_stdout "^Channel: none (Server=)$"
check "the choice is removed" test ! -e "$DEV/state/channel"
expect_exit 0 ctl check
expect_stdout "Version 2 is available"
expect_eq "AvailableVersion back on Server=" "$(prop AvailableVersion)" 2

# A configuration that drops the chosen channel: Server= again, said in the log.
expect_exit 0 ctl channel beta
stop_daemon
sed -i '/^beta=/d' "$DEV/swupdated.conf"
launch_daemon
expect_eq "Channel once beta is gone" "$(prop Channel)" ""
check "the log says so" grep -q "The channel 'beta' chosen before is not in \[Channels\]" "$T/daemon.log"
finish
