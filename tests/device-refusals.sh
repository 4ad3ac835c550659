#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Refused installs leave the booted slot, the bootloader environment and the state directory as
# they were (the history file only gains one line recording the refusal), and the device still
# installs a good release afterwards. Configuration errors name file and line, exit 2.
. "${SRCDIR:-.}/tests/device-lib.sh"

device_setup grub
release "$T/good.swu" 5

# refuse NAME REASON BUNDLE [written]: exit 1, reason on stderr, nothing that matters changed.
# "written": found while writing slot B, which then is out of the boot order (B_OK=0).
refuse() {
	local name=$1 reason=$2 bundle=$3 written=${4:-} before after lines_before lines_after b_ok
	b_ok=$(bootenv | grep '^B_OK=' || :)
	# What metadata that verified vouched for is kept even when the install is refused later
	# (signed-time: the clock's floor), as a rotated root is.
	before=$(fingerprint | grep -v history.jsonl | grep -v '^B_OK=' | grep -v signed-time)
	lines_before=0
	[ ! -f "$DEV/state/history.jsonl" ] || lines_before=$(wc -l <"$DEV/state/history.jsonl")
	expect_exit 1 swupdated install "$bundle"
	expect_stderr "$reason"
	after=$(fingerprint | grep -v history.jsonl | grep -v '^B_OK=' | grep -v signed-time)
	lines_after=$(wc -l <"$DEV/state/history.jsonl")
	if [ -n "$written" ]; then
		check "$name: the partly written slot B is bootable" bootenv_has B_OK=0
	else
		check "$name: the boot order of slot B changed though nothing was written" \
			test "$(bootenv | grep '^B_OK=' || :)" = "$b_ok"
	fi
	check "$name changed the device" diff <(echo "$before") <(echo "$after")
	expect_eq "$name: history lines" "$lines_after" $((lines_before + 1))
	check "$name: history line" python3 -c \
		'import json,sys; e=json.load(sys.stdin); assert e["result"]=="failed" and e["reason"]' \
		<<<"$(tail -n1 "$DEV/state/history.jsonl")"
}

# A target the device has no slot for.
printf kernel >"$T/kernel.img"
release "$T/noslot.swu" 5 --file kernel="$T/kernel.img"
refuse "no slot" "target 'kernel' has no slot on this device" "$T/noslot.swu"

# A payload larger than its slot.
head -c $((SLOT_SIZE + 1)) /dev/zero >"$T/big.img"
release "$T/big.swu" 5 --file rootfs="$T/big.img"
refuse "too big" "its slot only $SLOT_SIZE" "$T/big.swu"
check "the oversize payload was written" test "$(head -c 4096 "$DEV/rootfs-B" | tr -d '\0' | wc -c)" = 0

# A byte changed in the middle of a payload: caught by the hash while streaming.
cp "$T/good.swu" "$T/flipped.swu"
off=$(( $(stat -c %s "$T/good.swu") / 2 ))
flip_byte "$T/flipped.swu" "$off"
refuse "hash mismatch" "payload 'rootfs' has SHA-256" "$T/flipped.swu" written

head -c $(( $(stat -c %s "$T/good.swu") / 2 )) "$T/good.swu" >"$T/truncated.swu"
refuse "truncated" "bundle truncated" "$T/truncated.swu"

release "$T/other-hw.swu" 5 --compatible acme-gw-v1 --file rootfs="$T/rootfs-5.img"
refuse "wrong compatible" "not for this device 'acme-gw-v2'" "$T/other-hw.swu"
# No regular file: refused without opening it (a FIFO would block, a device node could act).
mkfifo "$T/fifo.swu"
expect_exit 1 timeout 10 "$SWUPDATED" --config "$DEV/swupdated.conf" install "$T/fifo.swu"
expect_stderr "not a regular file"

"$SWU" generate-key "$T/stranger" >/dev/null
release "$T/stranger.swu" 5 --file rootfs="$T/rootfs-5.img" --key "$T/stranger"
refuse "bad signature" "0 valid signatures by trusted targets keys" "$T/stranger.swu"

refuse "missing bundle" "cannot open bundle" "$T/does-not-exist.swu"

# Anti-rollback: install 5, confirm, then 4 is refused.
expect_exit 0 swupdated install "$T/good.swu"
reboot_into B
expect_exit 0 swupdated mark-good
release "$T/old.swu" 4
refuse "rollback" "targets metadata version 4 is older than installed version 5" "$T/old.swu"

# No way to tell the booted slot: refuse rather than guess.
sed -i 's/ swupdated.slot=B//' "$DEV/cmdline"
refuse "unknown booted slot" "cannot tell the booted slot" "$T/good.swu"
sed -i 's/$/ swupdated.slot=B/' "$DEV/cmdline"

# And after all that, a good release still installs.
release "$T/next.swu" 6
expect_exit 0 swupdated install "$T/next.swu"

# --- configuration errors: exit 2, file:line, nothing runs ---------------------------------
cp "$DEV/swupdated.conf" "$T/good.conf"
bad_config() { # bad_config MESSAGE SED-EXPRESSION|APPEND-TEXT
	local msg=$1
	cp "$T/good.conf" "$DEV/swupdated.conf"
	if [ "${2:0:2}" = "s/" ] || [ "${2:0:1}" = "/" ]; then sed -i "$2" "$DEV/swupdated.conf"; else printf '%s\n' "$2" >>"$DEV/swupdated.conf"; fi
	before=$(fingerprint)
	expect_exit 2 swupdated install "$T/next.swu"
	expect_stderr "$msg"
	check "config error '$msg' changed the device" diff <(echo "$before") <(fingerprint)
}
bad_config "swupdated.conf:[0-9]*: unknown section \[Bogus\]" "[Bogus]
X=1"
bad_config "swupdated.conf:[0-9]*: unknown key 'Colour' in section \[Boot\]" "s/^\[Boot\]/[Boot]\nColour=blue/"
bad_config "swupdated.conf:[0-9]*: key 'Compatible' in section \[Update\] has no value" "s/^Compatible=.*/Compatible=/"
bad_config "Compatible= is required" "/^Compatible=/d"
bad_config "target 'appfs' has slot A but no slot B" "/^\[Slot.appfs.B\]/,+1d"
bad_config "already used by rootfs.A" "s/appfs-B$/rootfs-A/"
mkdir "$DEV/appfs-B-dir"
bad_config "is a directory" "s/appfs-B$/appfs-B-dir/"
bad_config "unknown bootloader 'lilo'" "s/^Bootloader=.*/Bootloader=lilo/"
bad_config "not a boolean" "s/^RequireVerity=.*/RequireVerity=maybe/"
bad_config "BootAttempts must be between 1 and 100" "s/^BootAttempts=.*/BootAttempts=0/"
bad_config "given twice" "s/^Bootloader=grub/Bootloader=grub\nBootloader=uboot/"
bad_config "syntax error" "this line is not ini"
bad_config "Slot.<target>.A" "[Slot.rootfs.C]
Device=/dev/null"
expect_exit 2 "$SWUPDATED" --config "$T/missing.conf" status
expect_stderr "Cannot read configuration '$T/missing.conf'"
cp "$T/good.conf" "$DEV/swupdated.conf"

# RequireVerity=yes: the root metadata here is on no dm-verity device.
sed -i 's/^RequireVerity=no/RequireVerity=yes/' "$DEV/swupdated.conf"
refuse "verity" "not a device-mapper device" "$T/next.swu"
# A fresh device whose installed version is its factory manifest: with RequireVerity=yes and no
# dm-verity, status says why it cannot tell the version, not "0".
"$SWU" export-manifest --bundle "$T/good.swu" --trusted-root-metadata "$T/root.pb" -o "$T/factory.pb"
rm -f "$DEV/state/manifest.pb"
sed -i "s|^\[Trust\]\$|[Trust]\nFactoryManifest=$T/factory.pb|" "$DEV/swupdated.conf"
expect_exit 0 swupdated status
expect_stdout "Installed version: unknown: .*not a device-mapper device"
expect_exit 0 swupdated status --json
json_check "$T/out" '"not a device-mapper device" in d["installed_error"] and d["installed_version"] == 0'
sed -i 's/^RequireVerity=yes/RequireVerity=no/' "$DEV/swupdated.conf"
expect_exit 0 swupdated status
expect_stdout "Installed version: 5"
finish
