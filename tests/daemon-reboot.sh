#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# RebootPolicy=auto asks systemd-logind to reboot after a successful apply, and a refusal is not
# silent: with a stand-in for logind on the private bus (tests/fake-logind.py) the call arrives
# as Reboot(false), and when logind refuses it the Note says so and why. (The real logind, with
# the unit's CAP_SYS_BOOT and no polkit, is the VM tests' part.)
. "${SRCDIR:-.}/tests/daemon-lib.sh"
: "${SWUPDATECTL:?}"
/usr/bin/python3 -c 'import dbus, gi' 2>/dev/null || { echo "SKIP: python3-dbus and python3-gi are needed"; exit 77; }

device_setup grub
start_bus
release "$T/v2.swu" 2
SERVER=http://127.0.0.1:9/unused start_daemon
sed -i 's|^AutoInstall=.*|AutoInstall=no\nRebootPolicy=auto|' "$DEV/swupdated.conf"

# start_logind MODE: the stand-in owns org.freedesktop.login1.
start_logind() {
	/usr/bin/python3 "$SRCDIR/tests/fake-logind.py" "$T/logind.calls" "$1" &
	PIDS+=($!)
	LOGIND_PID=$!
	for _ in $(seq 50); do
		busctl "$BUS" status org.freedesktop.login1 >/dev/null 2>&1 && return 0
		[ -e "$T/logind.calls" ] && return 0
		sleep 0.1
	done
	fail "the stand-in logind did not come up"
}

start_logind ok
restart_daemon
expect_exit 0 ctl install "$T/v2.swu"
expect_stdout "Finished: success"
for _ in $(seq 50); do [ -s "$T/logind.calls" ] && break; sleep 0.1; done
expect_eq "logind was asked" "$(cat "$T/logind.calls")" "Reboot interactive=False"
check "no log line about the reboot" grep -q "systemd-logind is rebooting the system" "$T/daemon.log"

# logind refuses (no privilege, no polkit): the Note says so, and what to do.
kill "$LOGIND_PID"
wait "$LOGIND_PID" 2>/dev/null || true
: >"$T/logind.calls"
start_logind deny
boot_and_confirm B
release "$T/v3.swu" 3
expect_exit 0 ctl install "$T/v3.swu"
for _ in $(seq 50); do prop Note | grep -q "refused" && break; sleep 0.1; done
check "the refusal is not in the Note" \
	note_has "Version 3 installed into slot A, but the reboot was refused: Interactive authentication required.; reboot to try it"
expect_eq "logind was asked again" "$(cat "$T/logind.calls")" "Reboot interactive=False"
finish
