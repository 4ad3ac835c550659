#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bootloader=systemd-boot on a directory standing in for the ESP and one for efivarfs, driven
# through swupdated's real code paths. power_on is a model of systemd-boot 252 (src/boot/efi/
# boot.c): type #2 entries of /EFI/Linux/, the counter parsed from the name, the order, the
# default (LoaderEntryDefault pattern, else the first entry), the counter bumped by renaming,
# LoaderEntrySelected and LoaderBootCountPath set, LoaderEntryOneShot read once. bless is systemd-bless-boot's "good" and
# "bad". Covered: install -> try -> confirm (with and without systemd-bless-boot first); failed
# boots -> fallback -> rollback; mark-bad; and power cuts at every point of the install and of
# mark-good: the good slot's UKI is never touched, systemd-boot never sees a half-written one,
# and the next install succeeds.
. "${SRCDIR:-.}/tests/device-lib.sh"

GUID=4a67b082-0a4c-41cf-b6c7-440b29bb8c4f
STEM=gateway # as in docs/examples/loader.conf

# sdboot_setup: a device of device-lib.sh booting slot A through systemd-boot: its factory UKI
# in the ESP, the slot not on the kernel command line (one UKI serves either slot).
sdboot_setup() {
	rm -rf "$T/dev"
	device_setup grub
	BOOT=sdboot
	ESP=$DEV/esp
	VARS=$DEV/efivars
	LINUX=$ESP/EFI/Linux
	mkdir -p "$LINUX" "$VARS"
	cp "$T/uki-1.efi" "$LINUX/$STEM-A.efi"
	# Another UKI sorts before the slots (systemd-boot orders ids newest first): without the
	# factory's loader.conf (docs/examples/loader.conf), a default matching nothing would boot
	# it, not the other slot.
	printf 'rescue\n' >"$LINUX/rescue.efi"
	mkdir -p "$ESP/loader"
	cp "${SRCDIR:-.}/docs/examples/loader.conf" "$ESP/loader/loader.conf"
	echo "console=ttyS0 root=/dev/mapper/root" >"$DEV/cmdline"
	sed -i -e "s|^Bootloader=grub|Bootloader=systemd-boot\nEfiSystemPartition=$ESP\nEfiVariableDirectory=$VARS\nBootEntryStem=$STEM|" \
		"$DEV/swupdated.conf"
	printf '[Slot.uki.A]\nBootEntry=yes\n[Slot.uki.B]\nBootEntry=yes\n' >>"$DEV/swupdated.conf"
	: >"$T/boot.log"
	power_on >/dev/null
}

# efivar_set NAME VALUE / efivar_get NAME / efivar_unset NAME: efivarfs files, 4 bytes of
# attributes then UTF-16LE.
efivar_set() {
	{
		printf '\006\000\000\000'
		printf '%s\0' "$2" | iconv -f ASCII -t UTF-16LE
	} >"$VARS/$1-$GUID"
}
efivar_get() {
	[ -e "$VARS/$1-$GUID" ] || return 0
	tail -c +5 "$VARS/$1-$GUID" | iconv -f UTF-16LE -t ASCII | tr -d '\0'
}
efivar_unset() { rm -f "$VARS/$1-$GUID"; }

# entry_counter NAME: "LEFT DONE" of a name with a counter systemd-boot reads, else nothing.
entry_counter() {
	local base=${1%.[eE][fF][iI]} c
	case $base in *+*) ;; *) return 0 ;; esac
	c=${base##*+}
	if [[ $c =~ ^([0-9]+)(-([0-9]+))?$ ]]; then
		echo "${BASH_REMATCH[1]} ${BASH_REMATCH[3]:-0}"
	fi
}

# entries: systemd-boot's menu, in its order, one "id name" per line. Names starting with "." or
# "auto-" or not ending in .efi are skipped; ids are names in lower case. Entries without tries
# left go last; then (our UKIs share sort key and version) by id, newest first as
# strverscmp_improved() orders; then more tries left first, fewer done first.
entries() {
	local f name id c left done
	for f in "$LINUX"/*; do
		name=${f##*/}
		[[ ${name,,} == *.efi && $name != .* && ${name,,} != auto-* ]] || continue
		id=${name,,}
		c=$(entry_counter "$name")
		left=${c% *} done=${c#* }
		[ -n "$c" ] || left=-1 done=0
		printf '%d\t%s\t%d\t%d\t%s\n' "$([ "$left" = 0 ] && echo 1 || echo 0)" "$id" \
			"$left" "$done" "$name"
	done | sort -t $'\t' -k1,1n -k2,2Vr -k3,3nr -k4,4n | cut -f2,5 | tr '\t' ' '
}

# power_on: what systemd-boot does at power-on, then the device runs what it booted. Prints the
# slot, or the name of the entry when it is none of the slots.
power_on() {
	local pattern oneshot menu chosen="" id name c left done next slot p
	menu=$(entries)
	# LoaderEntryDefault, then loader.conf's "default", each the first entry it matches whatever
	# its counter; else the first entry
	# LoaderEntryOneShot (bootctl set-oneshot, or a menu choice) first, read once
	pattern=$(efivar_get LoaderEntryDefault)
	oneshot=$(efivar_get LoaderEntryOneShot)
	efivar_unset LoaderEntryOneShot
	for p in "$oneshot" "$pattern" "$(sed -n 's/^default[[:space:]]\+//p' "$ESP/loader/loader.conf" 2>/dev/null)"; do
		[ -n "$p" ] && [ -z "$chosen" ] || continue
		while read -r id name; do
			# shellcheck disable=SC2053 # a glob, as efi_fnmatch() matches it
			if [[ $id == ${p,,} ]]; then chosen="$id $name" && break; fi
		done <<<"$menu"
	done
	[ -n "$chosen" ] || chosen=$(head -n 1 <<<"$menu")
	id=${chosen% *} name=${chosen#* }
	echo "power on: menu [$(tr '\n' ' ' <<<"$menu")] default '$pattern': $name" >>"$T/boot.log"
	efivar_unset LoaderBootCountPath
	c=$(entry_counter "$name")
	if [ -n "$c" ]; then
		left=${c% *} done=${c#* }
		next="${name%+*}+$((left > 0 ? left - 1 : 0))-$((done + 1)).efi"
		mv "$LINUX/$name" "$LINUX/$next"
		efivar_set LoaderBootCountPath "\\EFI\\Linux\\$next"
	fi
	efivar_set LoaderEntrySelected "$id"
	echo "boot-$RANDOM-$RANDOM" >"$DEV/boot_id"
	case $id in
	"$STEM"-a*) slot=A ;;
	"$STEM"-b*) slot=B ;;
	*) slot=$id ;;
	esac
	echo "$slot"
}

# bless good|bad: systemd-bless-boot after boot-complete.target: the booted entry's counter goes
# ("good") or becomes +0 ("bad"); nothing when the boot was not counted.
bless() {
	local path name base done
	path=$(efivar_get LoaderBootCountPath)
	[ -n "$path" ] || return 0
	name=${path##*\\}
	base=${name%+*}
	done=$(entry_counter "$name")
	done=${done#* }
	case $1 in
	good) target=$base.efi ;;
	bad) target=$base+0-$done.efi ;;
	esac
	[ -e "$LINUX/$name" ] && mv -n "$LINUX/$name" "$LINUX/$target"
	return 0
}

slot_files() { (cd "$LINUX" && ls -A | grep -i "^\.\?$STEM-$1" || true) | tr '\n' ' '; }

head -c 300000 /dev/urandom >"$T/uki-1.efi"
for v in 2 3 4 5; do
	head -c $((200000 + v)) /dev/urandom >"$T/uki-$v.efi"
	head -c $((1024 * 1024 + v)) /dev/urandom >"$T/rootfs-$v.img"
	release "$T/v$v.swu" "$v" --file rootfs="$T/rootfs-$v.img" --file uki="$T/uki-$v.efi"
done
# A release without the UKI target: its switch would boot no new image, or a stale one.
release "$T/v5-no-uki.swu" 5 --file rootfs="$T/rootfs-5.img"
sdboot_setup

# --- the configuration ------------------------------------------------------------------------
expect_exit 0 swupdated check-config
expect_stdout "Bootloader=systemd-boot"
expect_stdout "systemd-boot: target 'uki' in '$LINUX/$STEM-A.efi' and '$STEM-B.efi', BootAttempts=3"
expect_exit 0 swupdated status --json
expect_stdout '"booted_slot": "A"'
# A factory image sets no LoaderEntryDefault: the only slot with an entry is the primary one.
expect_exit 0 swupdated mark-good

# --- a release without the UKI: refused, whatever an interrupted install left staged -------------
head -c 1000 "$T/uki-5.efi" >"$LINUX/.$STEM-B.efi.new"
expect_exit 1 swupdated install "$T/v5-no-uki.swu"
expect_stderr "the release has no target 'uki', the UKI of slot B's boot entry (BootEntry=yes)"
expect_eq "slot B's files after the refused install" "$(slot_files B)" ""
expect_eq "LoaderEntryDefault after the refused install" "$(efivar_get LoaderEntryDefault)" "gateway-a[.+][e1-9]*"

# --- install -> try -> confirm ------------------------------------------------------------------
a_before=$(stat -c %i "$LINUX/$STEM-A.efi")
expect_exit 0 swupdated install "$T/v2.swu"
expect_eq "slot B's files after the install" "$(slot_files B)" "$STEM-B+3.efi "
check "slot B's UKI is not release 2's" cmp "$LINUX/$STEM-B+3.efi" "$T/uki-2.efi"
expect_eq "LoaderEntryDefault" "$(efivar_get LoaderEntryDefault)" "gateway-b[.+][e1-9]*"
check "slot A's UKI was touched" cmp "$LINUX/$STEM-A.efi" "$T/uki-1.efi"
expect_eq "slot A's UKI was replaced" "$(stat -c %i "$LINUX/$STEM-A.efi")" "$a_before"
expect_eq "state" "$(status_field state)" pending-reboot
expect_eq "power-on after the install" "$(power_on)" B
expect_eq "slot B counted down" "$(slot_files B)" "$STEM-B+2-1.efi "
expect_eq "LoaderEntrySelected" "$(efivar_get LoaderEntrySelected)" "gateway-b+3.efi"
expect_eq "booted" "$(status_field booted_slot)" B
expect_eq "state after the reboot" "$(status_field state)" pending-confirmation
# systemd-bless-boot comes first; mark-good after it finds nothing left to rename.
bless good
expect_eq "slot B after systemd-bless-boot" "$(slot_files B)" "$STEM-B.efi "
expect_exit 0 swupdated mark-good
expect_eq "installed after mark-good" "$(status_field installed_version)" 2
expect_eq "power-on after the confirmation" "$(power_on)" B
expect_eq "slot B stays good" "$(slot_files B)" "$STEM-B.efi "
# Nothing pending: mark-good on every boot confirms the slot systemd-boot boots first.
expect_exit 0 swupdated mark-good

# --- failed boots -> fallback -> rollback: version 3 into A never comes up ---------------------
expect_exit 0 swupdated install "$T/v3.swu"
expect_eq "slot A's files after the install" "$(slot_files A)" "$STEM-A+3.efi "
check "slot B's UKI was touched" cmp "$LINUX/$STEM-B.efi" "$T/uki-2.efi"
expect_eq "three tries of A, then B" "$(power_on) $(power_on) $(power_on) $(power_on)" "A A A B"
expect_eq "slot A used up" "$(slot_files A)" "$STEM-A+0-3.efi "
expect_eq "booted after the fallback" "$(status_field booted_slot)" B
expect_eq "pending after the fallback" "$(status_field pending_slot)" ""
check "no rollback in history" grep -q '"action":"rollback"' "$DEV/state/history.jsonl"
check "the rolled-back release is not remembered" test -e "$DEV/state/rollback.json"
# Never booted again: the entry is gone, the default names B.
expect_eq "slot A's files after the rollback" "$(slot_files A)" ""
expect_eq "LoaderEntryDefault after the rollback" "$(efivar_get LoaderEntryDefault)" "gateway-b[.+][e1-9]*"
expect_eq "power-on after the rollback" "$(power_on)" B
expect_exit 0 swupdated mark-good
expect_eq "installed after the rollback" "$(status_field installed_version)" 2

# --- mark-bad: version 4 into A boots, the health check rejects it ------------------------------
expect_exit 0 swupdated install "$T/v4.swu"
expect_eq "power-on into version 4" "$(power_on)" A
expect_exit 0 swupdated mark-bad
expect_eq "slot A's files after mark-bad" "$(slot_files A)" ""
expect_eq "power-on after mark-bad" "$(power_on)" B
expect_eq "installed after mark-bad" "$(status_field installed_version)" 2
check "the rejected release is not remembered" grep -q '"version": *4' "$DEV/state/rollback.json"

# --- systemd-bless-boot's "bad": the counter set to 0, the fallback, swupdated's rollback ------
expect_exit 0 swupdated install "$T/v4.swu"
expect_eq "power-on into version 4 again" "$(power_on)" A
bless bad
expect_eq "slot A marked bad by systemd-bless-boot" "$(slot_files A)" "$STEM-A+0-1.efi "
expect_eq "power-on after systemd-bless-boot bad" "$(power_on)" B
expect_eq "pending after systemd-bless-boot bad" "$(status_field pending_slot)" ""
expect_eq "slot A's files after the rollback" "$(slot_files A)" ""

# --- the booted slot: LoaderEntrySelected and the command line must agree -----------------------
echo "console=ttyS0 swupdated.slot=A" >"$DEV/cmdline"
expect_exit 1 swupdated install "$T/v3.swu"
expect_stderr "systemd-boot booted the entry of slot B (LoaderEntrySelected), but the kernel command line or the root device is slot A"
# A slot parameter that names no slot is an error LoaderEntrySelected does not paper over.
echo "console=ttyS0 swupdated.slot=X" >"$DEV/cmdline"
expect_exit 1 swupdated install "$T/v3.swu"
expect_stderr "kernel command line parameter swupdated.slot= is not A or B"
echo "console=ttyS0 swupdated.slot=B" >"$DEV/cmdline"
expect_exit 0 swupdated status --json
expect_stdout '"booted_slot": "B"'

# --- a one-shot boot of the old slot after the switch: no rollback, the new slot is tried next ---
sdboot_setup
expect_exit 0 swupdated install "$T/v2.swu"
efivar_set LoaderEntryOneShot "$STEM-a.efi"
expect_eq "power-on with a one-shot entry" "$(power_on)" A
expect_exit 0 swupdated status --json
expect_eq "slot B's files after a one-shot boot of A" "$(slot_files B)" "$STEM-B+3.efi "
check_not "a one-shot boot of A taken for a rollback" grep -q '"action":"rollback"' "$DEV/state/history.jsonl"
expect_eq "power-on after the one-shot boot" "$(power_on)" B
expect_eq "state after the one-shot boot" "$(status_field state)" pending-confirmation
expect_exit 0 swupdated mark-good
expect_eq "installed after the one-shot boot" "$(status_field installed_version)" 2

# --- power cuts: the install and mark-good killed at every point --------------------------------
# After each: slot A's UKI is untouched and the default never names a slot whose entry is
# incomplete; power-on boots A, or B holding all of release 2; a record whose switch never ran is
# no rollback; and an install afterwards succeeds and boots.
points=0 interrupted=0
for ((n = 1; n < 200; n++)); do
	sdboot_setup
	got=0
	SWUPDATED_FAULT_INJECT=$n swupdated install "$T/v2.swu" >/dev/null 2>"$T/err" || got=$?
	[ "$got" = 0 ] && break
	points=$n
	expect_eq "install killed at point $n" "$got" 137
	check "cut $n: slot A's UKI was touched" cmp "$LINUX/$STEM-A.efi" "$T/uki-1.efi"
	for f in "$LINUX/$STEM"-[bB]*; do
		[ -e "$f" ] || continue
		check "cut $n: systemd-boot sees a half-written UKI '${f##*/}'" cmp "$f" "$T/uki-2.efi"
	done
	pending=$([ -e "$DEV/state/pending.json" ] && echo yes || echo no)
	booted=$(power_on)
	case $booted in
	A) ;;
	B) check "cut $n: slot B booted without a pending record" test "$pending" = yes ;;
	*) fail "cut $n: systemd-boot booted '$booted': $(tail -n 1 "$T/boot.log")" ;;
	esac
	if [ "$booted" = A ] && [ "$pending" = yes ]; then
		interrupted=$((interrupted + 1))
		expect_eq "cut $n: pending after a reboot" "$(status_field pending_slot)" ""
		check "cut $n: an install interrupted before its switch was taken for a rollback" \
			test ! -e "$DEV/state/rollback.json"
	fi
	expect_exit 0 swupdated status --json
	[ "$booted" = A ] || continue
	expect_exit 0 swupdated install "$T/v2.swu"
	expect_eq "cut $n: power-on after the retried install" "$(power_on)" B
	check "cut $n: the retried install did not write slot B" cmp "$LINUX/$STEM-B+2-1.efi" "$T/uki-2.efi"
done
echo "install: $points fault points, $interrupted with a record before the switch"
check "only $points fault points exercised" test "$points" -ge 10
check "no cut fell between the pending record and the switch" test "$interrupted" -ge 1

for ((n = 1; n < 50; n++)); do
	sdboot_setup
	swupdated install "$T/v2.swu" 2>/dev/null
	expect_eq "mark-good cut $n: power-on" "$(power_on)" B
	got=0
	SWUPDATED_FAULT_INJECT=$n swupdated mark-good >/dev/null 2>&1 || got=$?
	[ "$got" = 0 ] && break
	expect_eq "mark-good killed at point $n" "$got" 137
	expect_eq "mark-good cut $n: power-on after the cut" "$(power_on)" B
	expect_exit 0 swupdated mark-good
	expect_eq "installed after mark-good cut $n" "$(status_field installed_version)" 2
	expect_eq "slot B after mark-good cut $n" "$(slot_files B)" "$STEM-B.efi "
done
echo "mark-good: $((n - 1)) fault points"
finish
