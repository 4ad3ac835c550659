#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon against nginx on 127.0.0.1 and a private bus: polling with nothing new, a release
# going through every state, reboot and MarkGood, unchanged targets not downloaded, access
# control, wrong states, a local bundle and a whole bundle from a URL.
. "${SRCDIR:-.}/tests/daemon-lib.sh"
: "${SWUPDATECTL:?}"

device_setup grub
start_bus
start_nginx
release "$T/v2.swu" 2
publish "$T/v2.swu"
start_daemon

# --- a poll with nothing new: 304, nothing downloaded, inactive ------------------------------
expect_exit 0 ctl check
expect_stdout "Version 2 is available"
expect_exit 0 ctl check
expect_eq "304 on the second poll" "$(tail -n1 "$T/access.log" | awk '{print $9}')" 304
checks=$((checks + 1))
grep -q "/blobs/" "$T/access.log" && fail "a poll downloaded a blob"
expect_eq "state after polls" "$(prop State)" inactive
expect_eq "available" "$(prop AvailableVersion)" 2
checks=$((checks + 1))
[ "$(prop LastCheck)" -gt 0 ] && [ "$(prop NextCheck)" -gt "$(prop LastCheck)" ] || fail "LastCheck/NextCheck"

# --- a release through every state --------------------------------------------------------------
busctl "$BUS" monitor --match "type='signal',interface='org.freedesktop.DBus.Properties'" \
	io.swupdated.Updater1 >"$T/monitor.log" 2>&1 &
PIDS+=($!)
sleep 0.3
expect_exit 0 ctl install
expect_stdout "Finished: success"
sleep 0.3
for s in transferring transferred verifying verified applying finished; do
	checks=$((checks + 1))
	grep -q "\"$s\"" "$T/monitor.log" || fail "state '$s' was never announced"
done
expect_eq "result" "$(prop Result)" success
expect_eq "pending slot" "$(prop PendingSlot)" B
expect_eq "primary" "$(primary)" B
checks=$((checks + 1))
slot_holds "$DEV/rootfs-B" "$T/rootfs-2.img" && slot_holds "$DEV/appfs-B" "$T/appfs-2.img" ||
	fail "slot B does not hold release 2"
expect_exit 1 ctl mark-good # not booted into it yet
expect_stderr "not booted yet (reboot first)"
expect_exit 0 ctl reset
expect_eq "state after reset" "$(prop State)" inactive

# --- reboot into B, MarkGood ---------------------------------------------------------------------
# What a client reads survives the restart: the release seen, when it was checked.
last_check=$(prop LastCheck)
reboot_into B
restart_daemon
expect_eq "booted" "$(prop BootedSlot)" B
expect_eq "available after a restart" "$(prop AvailableVersion)" 2
expect_eq "last check after a restart" "$(prop LastCheck)" "$last_check"
expect_exit 0 ctl mark-good
expect_eq "installed" "$(prop InstalledVersion)" 2
expect_eq "pending after mark-good" "$(prop PendingSlot)" ""
expect_exit 0 ctl mark-good # nothing pending: confirms the booted slot again (health checks)
expect_exit 1 ctl mark-bad
expect_stderr "no update is pending"

# --- an unchanged target is copied from the active slot, never downloaded -------------------------
head -c $((1024 * 1024 + 3)) /dev/urandom >"$T/rootfs-3.img"
release "$T/v3.swu" 3 --file rootfs="$T/rootfs-3.img" --file appfs="$T/appfs-2.img"
publish "$T/v3.swu"
app_hex=$(sha256sum "$T/appfs-2.img" | cut -d' ' -f1)
before=$(blob_requests "$app_hex")
expect_exit 0 ctl install
expect_eq "appfs blob requests" "$(blob_requests "$app_hex")" "$before"
checks=$((checks + 1))
slot_holds "$DEV/appfs-A" "$T/appfs-2.img" && slot_holds "$DEV/rootfs-A" "$T/rootfs-3.img" ||
	fail "slot A does not hold release 3"
expect_exit 0 ctl reset
reboot_into A
restart_daemon
expect_exit 0 ctl mark-good
expect_eq "installed" "$(prop InstalledVersion)" 3

# --- access: properties and GetHistory for everyone, the rest for root and 'swupdate' -----------
expect_exit 0 runuser -u nobody -- busctl "$BUS" get-property io.swupdated.Updater1 /io/swupdated/Updater1 io.swupdated.Updater1 State
expect_exit 0 runuser -u nobody -- busctl "$BUS" call io.swupdated.Updater1 /io/swupdated/Updater1 io.swupdated.Updater1 GetHistory u 5
for m in Check Abort Reset MarkGood MarkBad Verify Apply; do
	expect_exit 1 runuser -u nobody -- busctl "$BUS" call io.swupdated.Updater1 /io/swupdated/Updater1 io.swupdated.Updater1 $m
	expect_stderr "Access denied"
done
expect_exit 1 runuser -u nobody -- "$SWUPDATECTL" --address "$DBUS_SYSTEM_BUS_ADDRESS" install
expect_exit 0 ctl history
expect_stdout "mark-good"

# --- errors: wrong state, unknown options, bad sources ------------------------------------------
expect_exit 1 call Verify
expect_stderr "Verify is not possible in state 'inactive'"
expect_exit 1 call Install 'sa{sv}' "" 1 Foo s bar
expect_stderr "Unknown option 'Foo'"
expect_exit 1 call Install 'sa{sv}' "relative/path" 0
expect_stderr "neither an absolute path nor an http(s) URL"
# A path that is no regular file is never opened as a bundle: a FIFO would block the daemon, a
# device node could act on being opened.
mkfifo "$T/fifo.swu"
expect_exit 1 timeout 10 busctl "$BUS" call io.swupdated.Updater1 /io/swupdated/Updater1 io.swupdated.Updater1 Install 'sa{sv}' "$T/fifo.swu" 0
expect_stderr "not a regular file"
expect_eq "state after a FIFO" "$(prop State)" inactive
# A source longer than the daemon keeps is refused whole, never cut (a cut URL is another URL,
# and a character cut in half would break GetAll).
long="http://127.0.0.1:$PORT/$(printf 'é%.0s' $(seq 600)).swu"
expect_exit 1 call Install 'sa{sv}' "$long" 0
expect_stderr "source is longer than"
expect_exit 0 busctl "$BUS" call io.swupdated.Updater1 /io/swupdated/Updater1 org.freedesktop.DBus.Properties GetAll s io.swupdated.Updater1

release "$T/v4.swu" 4

# --- a local bundle, and a whole bundle from a URL ------------------------------------------------
expect_exit 0 ctl install "$T/v4.swu"
expect_stdout "Finished: success"
expect_exit 0 ctl reset
cp "$T/v4.swu" "$T/repo/v4.swu"
expect_exit 0 ctl install "http://127.0.0.1:$PORT/v4.swu"
expect_stdout "Finished: success"
checks=$((checks + 1))
slot_holds "$DEV/rootfs-B" "$T/rootfs-4.img" || fail "slot B does not hold release 4"
checks=$((checks + 1))
grep -q "staging it in" "$T/daemon.log" && fail "a bundle with its metadata first was staged"
# Payloads before metadata: cannot be verified in order, so it goes through StagingDirectory=.
expect_exit 0 ctl reset
python3 "$SRCDIR/tests/forge.py" order "$T/v4.swu" "$T/repo/v4-payloads-first.swu" --payloads-first
expect_exit 0 "$SWU" verify-bundle --bundle "$T/repo/v4-payloads-first.swu" --self # valid, from a file
expect_exit 0 ctl install "http://127.0.0.1:$PORT/v4-payloads-first.swu"
expect_stdout "Finished: success"
checks=$((checks + 1))
grep -q "cannot be verified while it streams: staging it" "$T/daemon.log" || fail "the reordered bundle was not staged"
checks=$((checks + 1))
[ -z "$(ls -A "$DEV/staging" 2>/dev/null)" ] || fail "the staged bundle was left behind"

# --- MaxBytesPerSec= holds the download to its rate ------------------------------------------------
expect_exit 0 ctl reset
publish "$T/v4.swu"
sed -i 's/^Retries=3/Retries=3\nMaxBytesPerSec=400000/' "$DEV/swupdated.conf"
restart_daemon
t0=$(date +%s%N)
expect_exit 0 ctl install
ms=$((($(date +%s%N) - t0) / 1000000))
echo "1 MiB at 400000 B/s took $ms ms"
checks=$((checks + 1))
[ "$ms" -ge 2000 ] || fail "MaxBytesPerSec=400000 did not slow a 1 MiB download down ($ms ms)"
sed -i '/^MaxBytesPerSec=/d' "$DEV/swupdated.conf"
expect_exit 0 ctl reset

# --- AutoInstall=yes: a new release is installed by the daemon's own poll ------------------------
reboot_into B
sed -i 's/^AutoInstall=no/AutoInstall=yes/' "$DEV/swupdated.conf"
restart_daemon
expect_exit 0 ctl mark-good
release "$T/v5.swu" 5
publish "$T/v5.swu"
restart_daemon # the first poll follows the start within about a second
wait_state finished 30
expect_eq "result of the automatic install" "$(prop Result)" success
expect_eq "pending after the automatic install" "$(prop PendingSlot)" A
checks=$((checks + 1))
slot_holds "$DEV/rootfs-A" "$T/rootfs-5.img" || fail "slot A does not hold release 5"
finish
