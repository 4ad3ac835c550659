# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon under test, with real components started here and always cleaned up: a private
# dbus-daemon (with the shipped bus policy), nginx on 127.0.0.1 serving a `swu publish`
# repository, and swupdated on a simulated gateway (device-lib.sh).
. "${SRCDIR:-.}/tests/device-lib.sh"
. "${SRCDIR:-.}/tests/service-lib.sh"

for tool in dbus-daemon busctl nginx; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
daemon_cleanup() {
	service_cleanup
	rm -rf "$T"
}
trap daemon_cleanup EXIT
chmod 755 "$T" # unprivileged callers reach the bus socket

# daemon_config: the device's swupdated.conf polls Server=$SERVER (every $POLL_INTERVAL s, default
# 3600, no jitter), with IdleExitSec=$IDLE_EXIT (default 0), AutoInstall=$AUTO_INSTALL (default
# no), a staging directory and short network timeouts.
daemon_config() {
	sed -i "s|^Compatible=.*|Compatible=acme-gw-v2\nServer=$SERVER\nPollIntervalSec=${POLL_INTERVAL:-3600}\nPollJitterSec=0\nIdleExitSec=${IDLE_EXIT:-0}\nAutoInstall=${AUTO_INSTALL:-no}\nStagingDirectory=$DEV/staging\n[Network]\nRetries=3\nConnectTimeoutSec=5\nLowSpeedTimeoutSec=5|" "$DEV/swupdated.conf"
}

# start_daemon: swupdated on the device, configured by daemon_config.
start_daemon() {
	daemon_config
	launch_daemon
}

# conf_add SECTION LINE: adds LINE to [SECTION] of the device's swupdated.conf (the section is
# appended when there is none); a running daemon reads it at its next start.
conf_add() {
	if grep -q "^\[$1\]\$" "$DEV/swupdated.conf"; then
		sed -i "s|^\[$1\]\$|&\n$2|" "$DEV/swupdated.conf"
	else
		printf '[%s]\n%s\n' "$1" "$2" >>"$DEV/swupdated.conf"
	fi
}

# served_release: a device booted from slot A, the bus, and nginx serving release 2 ($T/v2.swu,
# images $T/rootfs-2.img and $T/appfs-2.img). The daemon is not started yet.
served_release() {
	device_setup grub
	start_bus
	start_nginx
	release "$T/v2.swu" 2
	publish "$T/v2.swu"
}

# launch_daemon: starts swupdated on the device and waits until it answers on the bus.
launch_daemon() {
	daemon_start "$DEV/swupdated.conf" || fail "the daemon did not come up"
}

prop() { # prop NAME: the property's value, unquoted
	busctl "$BUS" get-property io.swupdated.Updater1 /io/swupdated/Updater1 io.swupdated.Updater1 "$1" |
		sed 's/^[a-z] //; s/^"//; s/"$//'
}

# note_has PATTERN: the Note property matches PATTERN (grep). It prints the Note, which a failed
# check shows.
note_has() {
	local note
	note=$(prop Note)
	printf '%s\n' "$note"
	grep -q -- "$1" <<<"$note"
}

call() { # call METHOD [SIGNATURE ARGS...]
	busctl "$BUS" call io.swupdated.Updater1 /io/swupdated/Updater1 io.swupdated.Updater1 "$@"
}

# wait_state STATE [SECONDS]
wait_state() {
	local want=$1 n=$((${2:-30} * 10))
	for _ in $(seq "$n"); do
		[ "$(prop State)" = "$want" ] && return 0
		sleep 0.1
	done
	fail "state stayed '$(prop State)' instead of '$want' (note: $(prop Note))"
	return 1
}

# downloaded BYTES [TARGET]: the daemon is transferring (TARGET), DownloadDone at least BYTES.
downloaded() {
	[ "$(prop State)" = transferring ] && { [ -z "${2:-}" ] || [ "$(prop CurrentTarget)" = "$2" ]; } &&
		[ "$(prop DownloadDone)" -ge "$1" ]
}

# wait_downloaded BYTES [TARGET]: waits (30 s at most) until the install in progress has
# downloaded at least BYTES (of TARGET): it is writing the slot. 1 when it did not.
wait_downloaded() {
	wait_until 30 downloaded "$@" ||
		{ fail "DownloadDone stayed at $(prop DownloadDone) < $1 (state $(prop State))"; return 1; }
}

# stop_daemon: SIGTERM, and the daemon must exit 0.
stop_daemon() {
	local rc=0
	kill -TERM "$DAEMON_PID"
	wait "$DAEMON_PID" || rc=$?
	expect_eq "daemon exit status after SIGTERM" "$rc" 0
}

# restart_daemon: after a simulated reboot the daemon reads the new boot ID and slot.
restart_daemon() {
	stop_daemon
	launch_daemon
}

# boot_and_confirm SLOT: after an install into SLOT: Reset, reboot into SLOT, MarkGood.
boot_and_confirm() {
	expect_exit 0 ctl reset
	reboot_into "$1"
	restart_daemon
	expect_exit 0 ctl mark-good
}

ctl() {
	"$SWUPDATECTL" --address "$DBUS_SYSTEM_BUS_ADDRESS" "$@"
}

publish() { # publish BUNDLE
	"$SWU" publish --bundle "$1" --dir "$T/repo/stable" >/dev/null
}

blob_requests() { # blob_requests HEX: how often nginx served that blob
	grep -c "GET /stable/blobs/$1 " "$T/access.log" || true
}

# start_fake_server MODE: tests/fake-server.py on 127.0.0.1 serving $T/repo; sets SERVER.
start_fake_server() {
	mkdir -p "$T/repo"
	rm -f "$T/fake.port"
	python3 "$SRCDIR/tests/fake-server.py" "$T/repo" "$T/fake.port" "$1" >"$T/fake.log" 2>&1 &
	FAKE_PID=$!
	PIDS+=($FAKE_PID)
	for _ in $(seq 50); do [ -s "$T/fake.port" ] && break; sleep 0.1; done
	SERVER="http://127.0.0.1:$(cat "$T/fake.port")/stable"
}

# stop_fake_server: the next start_fake_server listens on a new port, so callers point the
# daemon at it (use_server) and restart the daemon.
stop_fake_server() {
	kill "$FAKE_PID" 2>/dev/null || true
	wait "$FAKE_PID" 2>/dev/null || true
}

# use_server URL: points the daemon's configuration at another server (restart to apply).
use_server() {
	sed -i "s|^Server=.*|Server=$1|" "$DEV/swupdated.conf"
}
