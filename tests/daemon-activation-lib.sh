# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by the bus activation scenarios (daemon-activation-*.sh). A private dbus-daemon with a
# <servicedir> holding the shipped activation file starts swupdated itself (it runs Exec=;
# SystemdService= is first used under systemd, in the VM tests); swupdated exits after 1 s idle.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

# activation_setup [FAKE-MODE]: a device booted from slot A whose daemon the bus starts, polled by
# "the timer" (the test: PollIntervalSec=3600), release 2 published in $T/repo and served by
# nginx, or by tests/fake-server.py in FAKE-MODE.
activation_setup() {
	device_setup grub
	if [ -n "${1:-}" ]; then
		start_fake_server "$1"
	else
		start_nginx
	fi
	release "$T/v2.swu" 2
	publish "$T/v2.swu"
	sed -i "s|^Compatible=.*|Compatible=acme-gw-v2\nServer=$SERVER\nPollIntervalSec=3600\nPollJitterSec=0\nIdleExitSec=1\nAutoInstall=no\nStagingDirectory=$DEV/staging|" "$DEV/swupdated.conf"
	ACTIVATE=$DEV/swupdated.conf start_bus
	: >>"$T/daemon.log" # what the activated daemons write, empty before the first
}

# wait_gone [SECONDS]: a check that swupdated left the bus within SECONDS (default 5).
wait_gone() { check "swupdated is still running after ${1:-5} s" daemon_gone "${1:-5}"; }

exits() { grep -c "Idle for 1 s: exiting" "$T/daemon.log" || true; }

# fake_polls: the polls the fake server answered; polled_since N: more than N.
fake_polls() { grep -c "metadata.pb" "$T/fake.log" || true; }
polled_since() { [ "$(fake_polls)" -gt "$1" ]; }

# back_to_nginx: once the daemon is gone, the fake server makes way for nginx, polls are hourly
# again, and a poll succeeds.
back_to_nginx() {
	wait_gone 10
	stop_fake_server
	start_nginx
	use_server "$SERVER"
	sed -i 's|^PollIntervalSec=.*|PollIntervalSec=3600|' "$DEV/swupdated.conf"
	expect_exit 0 ctl check
	wait_gone 5
}

# slow_transfers: MaxBytesPerSec=524288, so an install of release 2 lasts about 2 s.
slow_transfers() { conf_add Network MaxBytesPerSec=524288; }
