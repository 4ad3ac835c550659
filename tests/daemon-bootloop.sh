#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# No boot loops with AutoInstall=yes: a release whose slot did not boot (the bootloader fell
# back) is not installed again by the daemon's own polls; the Note and the history say so. An
# explicit install still installs it, and a newer release is installed by itself.
. "${SRCDIR:-.}/tests/daemon-lib.sh"
: "${SWUPDATECTL:?}"

served_release
AUTO_INSTALL=yes POLL_INTERVAL=2 start_daemon
polls() { grep -c "GET /stable/metadata.pb" "$T/access.log" || true; }
polled_twice_since() { [ "$(polls)" -ge $(($1 + 2)) ]; }
# relaunch_and_poll: the daemon starts again and makes two of its own polls (2 s apart), each of
# which would install the release if the daemon did not hold it back.
relaunch_and_poll() {
	local before
	stop_daemon
	before=$(polls)
	launch_daemon
	wait_until 20 polled_twice_since "$before" || fail "the daemon did not poll twice: $(polls) polls, $before before"
}
for _ in $(seq 200); do [ "$(prop PendingSlot)" = B ] && [ "$(prop Result)" = success ] && break; sleep 0.1; done
expect_eq "pending after the automatic install" "$(prop PendingSlot)" B

# The new slot does not boot: the bootloader tried it (B_TRY=1, the order unchanged, as the
# grub.cfg of docs/boot-integration.md does) and fell back to A. Polls go on every 2 s.
reboot_into A
grub-editenv "$DEV/grubenv" set B_TRY=1
relaunch_and_poll
expect_eq "primary after the rollback" "$(primary)" A
check "the slot that did not boot is bootable again" bootenv_has B_OK=0
expect_eq "nothing pending after the rollback" "$(prop PendingSlot)" ""
check "the Note does not say why" note_has "rolled back on this device"
check "no rollback in the history" test "$(grep -c '"action":"rollback"' "$DEV/state/history.jsonl")" = 1
check "the skip is not in the history once: $(cat "$DEV/state/history.jsonl")" \
	test "$(grep -c '"result":"skipped"' "$DEV/state/history.jsonl")" = 1

# An explicit install still installs it.
[ "$(prop State)" != finished ] || ctl reset >/dev/null
expect_exit 0 ctl install
expect_eq "pending after an explicit install" "$(prop PendingSlot)" B
# And a newer release is installed by itself: back on A, then version 3 arrives.
reboot_into A
grub-editenv "$DEV/grubenv" set B_TRY=1
release "$T/v3.swu" 3
publish "$T/v3.swu"
stop_daemon
launch_daemon
for _ in $(seq 200); do [ "$(prop PendingSlot)" = B ] && [ "$(prop Result)" = success ] && break; sleep 0.1; done
expect_eq "a newer release after a rollback" "$(prop PendingSlot)" B
check "slot B does not hold release 3" slot_holds "$DEV/rootfs-B" "$T/rootfs-3.img"

# Version 3 boots, but its health check fails: MarkBad. It is not installed again by itself.
reboot_into B
stop_daemon
launch_daemon
expect_exit 0 call MarkBad
reboot_into A
relaunch_and_poll
expect_eq "nothing pending after MarkBad" "$(prop PendingSlot)" ""
check "the Note does not say why" note_has "version 3 rolled back on this device"
check "the skip of version 3 is not in the history: $(cat "$DEV/state/history.jsonl")" \
	test "$(grep -c '"result":"skipped"' "$DEV/state/history.jsonl")" = 2

# A damaged record of the rolled-back release is said in the log, not passed over in silence.
printf '{"version":' >"$DEV/state/rollback.json"
: >"$T/daemon.log"
relaunch_and_poll
check "a damaged rollback.json is not logged" \
	grep -q "Cannot read the rolled-back release: rollback.json" "$T/daemon.log"
finish
