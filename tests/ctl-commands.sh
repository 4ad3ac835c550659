#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What swupdatectl and swupdated say before anything is done: an unknown command is called so
# (not "cannot connect"), each command has its --help, history takes -n, and a configuration
# that does not load is named with its file and line: by `swupdated check-config`, and by the
# service itself to whoever calls it (swupdatectl status says why, not "not running").
. "${SRCDIR:-.}/tests/daemon-lib.sh"

# Commands, before any bus is asked (this address leads nowhere).
nowhere=(--address unix:path=/nonexistent/bus)
expect_exit 2 "$SWUPDATECTL" "${nowhere[@]}" frobnicate
expect_stderr "unknown command 'frobnicate'"
for verb in status check poll install abort reset mark-good mark-bad history watch; do
	expect_exit 0 "$SWUPDATECTL" "${nowhere[@]}" "$verb" --help
	expect_stdout "^Usage: swupdatectl $verb"
done
expect_exit 0 "$SWUPDATECTL" --help
expect_stdout "history   \[-n N\]"
expect_exit 2 "$SWUPDATECTL" "${nowhere[@]}" history -n zero
expect_stderr "history -n takes a count, not 'zero'"
expect_exit 2 "$SWUPDATECTL" "${nowhere[@]}" status extra
expect_stderr "status takes no arguments, not 'extra'"

# A device with some history.
device_setup grub
start_bus
release "$T/v2.swu" 2
SERVER=http://127.0.0.1:9/unused start_daemon
expect_exit 0 ctl install "$T/v2.swu"
expect_exit 0 ctl install "$T/v2.swu"
expect_exit 0 ctl history -n 1
expect_eq "history -n 1 lines" "$(wc -l <"$T/out")" 1
expect_exit 0 ctl history
check "history without -n shows more than one entry" test "$(wc -l <"$T/out")" -gt 1

# check-config: valid, or each error with its file and line.
expect_exit 0 swupdated check-config
expect_stdout "swupdated.conf: valid"
cp "$DEV/swupdated.conf" "$T/broken.conf"
sed -i 's/^\[Boot\]$/[Boot]\nColour=blue/' "$T/broken.conf"
line=$(grep -n '^Colour=' "$T/broken.conf" | cut -d: -f1)
expect_exit 2 "$SWUPDATED" --config "$T/broken.conf" check-config
expect_stderr "broken.conf:$line: unknown key 'Colour' in section \[Boot\]"
# A custom boot backend that cannot run: said (installs and boot confirmations need it).
cp "$DEV/swupdated.conf" "$T/custom.conf"
sed -i "s|^Bootloader=.*|Bootloader=custom\nCustomBackend=$T/no-backend|" "$T/custom.conf"
expect_exit 0 "$SWUPDATED" --config "$T/custom.conf" check-config
expect_stderr "warning: CustomBackend= '$T/no-backend' cannot be run now: No such file or directory"

# The service with it: every call answers why it cannot run, and it exits 2 by itself.
stop_daemon
"$SWUPDATED" --config "$T/broken.conf" >>"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
PIDS+=($DAEMON_PID)
owned() { busctl "$BUS" call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus NameHasOwner s io.swupdated.Updater1 | grep -q true; }
check "the service with a broken configuration did not take its name" wait_until 10 owned
expect_exit 1 ctl status
expect_stderr "swupdated cannot run: $T/broken.conf:$line: unknown key 'Colour'"
expect_exit 1 ctl check
expect_stderr "swupdated cannot run: "
finish
