#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Power cuts: the one-shot install (and mark-good) killed with SIGKILL at every point where it
# could be interrupted (each chunk written, fsync, read-back, state writes, bootloader switch).
# After each: the booted slot is unchanged, the bootloader environment parses and points at the
# old slot or at a completely written new one, slot B is bootable (a fallback) only while it is
# untouched or completely written, the state directory parses, and the next install succeeds.
SLOT_SIZE=$((8 * 1024 * 1024))
. "${SRCDIR:-.}/tests/device-lib.sh"

head -c $((7 * 1024 * 1024)) /dev/urandom >"$T/rootfs.img"
printf 'app v2\n' >"$T/appfs.img"
release "$T/r.swu" 2 --file rootfs="$T/rootfs.img" --file appfs="$T/appfs.img"

new_written() {
	slot_holds "$DEV/rootfs-B" "$T/rootfs.img" && slot_holds "$DEV/appfs-B" "$T/appfs.img"
}

# slot_b_whole: slot B is as it was before the install, or completely written.
slot_b_whole() {
	[ "$(sha256sum "$DEV/rootfs-B" "$DEV/appfs-B" | cut -d' ' -f1)" = "$untouched" ] || new_written
}

# after_cut N: a slot the bootloader tries first always has its pending record (else it would
# run unconfirmed, the installed manifest behind it). A record whose switch never ran is no
# rollback: after a reboot into A it is dropped, and the release is not marked as rolled back.
after_cut() {
	if [ "$(primary)" = B ] && bootenv_has B_OK=1 >/dev/null; then
		check "cut $1: slot B boots next without a pending record" test -e "$DEV/state/pending.json"
	fi
	if [ -e "$DEV/state/pending.json" ] && [ "$(primary)" = A ]; then
		interrupted=$((interrupted + 1))
		reboot_into A
		expect_exit 0 swupdated status --json
		expect_eq "cut $1: pending after a reboot" "$(status_field pending_slot)" ""
		check "cut $1: an install interrupted before its switch was taken for a rollback (rollback.json)" \
			test ! -e "$DEV/state/rollback.json"
		check_not "cut $1: an install interrupted before its switch was taken for a rollback (history)" \
			grep '"action":"rollback"' "$DEV/state/history.jsonl"
	fi
}

points=0 interrupted=0
for ((n = 1; n < 200; n++)); do
	rm -rf "$T/dev"
	device_setup grub
	booted=$(sha256sum <"$DEV/rootfs-A")
	untouched=$(sha256sum "$DEV/rootfs-B" "$DEV/appfs-B" | cut -d' ' -f1)
	got=0
	SWUPDATED_FAULT_INJECT=$n swupdated install "$T/r.swu" >/dev/null 2>"$T/err" || got=$?
	if [ "$got" = 0 ]; then
		break # past the last fault point
	fi
	points=$n
	expect_eq "install killed at point $n" "$got" 137
	expect_eq "booted slot after cut $n" "$(sha256sum <"$DEV/rootfs-A")" "$booted"
	check "cut $n: bootloader environment does not parse" bootenv
	case $(primary) in
	A) ;;
	B) check "cut $n: bootloader points at a half-written slot B" new_written ;;
	*) fail "cut $n: bootloader points nowhere: $(bootenv)" ;;
	esac
	# The fallback: a bootable slot B is either as it was or completely written.
	if bootenv_has B_OK=1 >/dev/null; then
		check "cut $n: slot B is half-written and still bootable: $(bootenv | tr '\n' ' ')" slot_b_whole
	fi
	after_cut "$n"
	expect_exit 0 swupdated status --json
	expect_exit 0 swupdated install "$T/r.swu"
	expect_eq "primary after the retry at $n" "$(primary)" B
	check "cut $n: the retried install did not write slot B" new_written
done
echo "install: $points fault points, $interrupted with a record before the switch"
check "only $points fault points exercised" test "$points" -ge 30
check "no cut fell between the pending record and the switch" test "$interrupted" -ge 1

# An install over one still waiting for its reboot (slot B complete, tried first): cut at each
# point, the superseded record never goes before slot B leaves the boot order.
release "$T/r3.swu" 3 --file rootfs="$T/rootfs.img" --file appfs="$T/appfs.img"
for ((n = 1; n < 200; n++)); do
	rm -rf "$T/dev"
	device_setup grub
	swupdated install "$T/r.swu" 2>/dev/null
	got=0
	SWUPDATED_FAULT_INJECT=$n swupdated install "$T/r3.swu" >/dev/null 2>"$T/err" || got=$?
	[ "$got" = 0 ] && break
	expect_eq "second install killed at point $n" "$got" 137
	after_cut "$n (over a pending install)"
	[ "$n" -lt 8 ] || break # the record and the boot order change before the first write
done

# mark-good cut at each of its points: confirming again completes it.
for ((n = 1; n < 50; n++)); do
	rm -rf "$T/dev"
	device_setup grub
	swupdated install "$T/r.swu" 2>/dev/null
	reboot_into B
	got=0
	SWUPDATED_FAULT_INJECT=$n swupdated mark-good >/dev/null 2>&1 || got=$?
	[ "$got" = 0 ] && break
	expect_eq "mark-good killed at point $n" "$got" 137
	expect_exit 0 swupdated status --json
	expect_exit 0 swupdated mark-good
	expect_eq "installed after mark-good cut $n" "$(status_field installed_version)" 2
	expect_eq "primary after mark-good cut $n" "$(primary)" B
	expect_eq "booted slot after mark-good cut $n" "$(status_field booted_slot)" B
done
echo "mark-good: $((n - 1)) fault points"
finish
