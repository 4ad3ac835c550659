#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Targets that need no slot: "user_manifest" is verified and kept with the installed manifest,
# and a chunk index "<name>.chunks" (delta updates, docs/bundle-format.md) is verified like any payload and
# otherwise ignored by a device without a slot for it. A bundle file through the one-shot
# command, and a release from the server through the daemon.
. "${SRCDIR:-.}/tests/daemon-lib.sh"
: "${SWUPDATECTL:?}"

device_setup grub
head -c 200000 /dev/urandom >"$T/rootfs.img"
printf '{"release": "2026.11.2", "marker": "user-manifest-%s"}\n' "$RANDOM$RANDOM" >"$T/user_manifest"
release "$T/v2.swu" 2 --file rootfs="$T/rootfs.img" --file user_manifest="$T/user_manifest" \
	--chunked rootfs

# A bundle file: installs, and the user manifest is kept with the manifest.
expect_exit 0 swupdated install "$T/v2.swu"
check "slot B does not hold rootfs" slot_holds "$DEV/rootfs-B" "$T/rootfs.img"
reboot_into B
expect_exit 0 swupdated mark-good
check "the user manifest is not kept with the manifest" \
	grep -q "$(sed -n 's/.*"marker": "\([^"]*\)".*/\1/p' "$T/user_manifest")" "$DEV/state/manifest.pb"

# Each is verified like any payload: a changed byte in either is refused; the booted slot B, the
# bootloader and the state stay as they were.
booted() { sha256sum "$DEV/rootfs-B" "$DEV/appfs-B"; bootenv | grep -v '^A_'; sha256sum "$DEV/state/manifest.pb"; }
for name in user_manifest rootfs.chunks; do
	release "$T/v3.swu" 3 --file rootfs="$T/rootfs.img" --file user_manifest="$T/user_manifest" \
		--chunked rootfs
	off=$("$SWU" inspect-bundle "$T/v3.swu" --json | python3 -c 'import json, sys; print([p["offset"] for p in json.load(sys.stdin)["payloads"] if p["name"] == sys.argv[1]][0])' "$name")
	flip_byte "$T/v3.swu" "$((off + 3))"
	before=$(booted)
	expect_exit 1 swupdated install "$T/v3.swu"
	expect_stderr "payload '$name' has SHA-256"
	expect_eq "device after a bad $name" "$(booted)" "$before"
	check "an install is pending after a bad $name" test ! -e "$DEV/state/pending.json"
	# slot A was partly written: it is not bootable
	check "the partly written slot A is bootable" bootenv_has A_OK=0
done
# A user manifest that does not fit in the installed manifest beside the targets metadata (under
# the 1 MiB cap on its own) is refused before anything is written: once installed, the manifest
# could not be read back and every later install would fail.
head -c $((1024 * 1024 - 100)) /dev/zero >"$T/big_manifest"
release "$T/big.swu" 3 --file rootfs="$T/rootfs.img" --file user_manifest="$T/big_manifest"
before=$(fingerprint | grep -v history.jsonl)
expect_exit 1 swupdated install "$T/big.swu"
expect_stderr "user_manifest is 1048476 bytes: with the"
expect_stderr "the installed manifest would exceed 1048576 bytes"
expect_eq "after the refused user manifest (all but the history)" "$(fingerprint | grep -v history.jsonl)" "$before"

# From the server: the daemon verifies both and needs no slot for them; the index serves the
# delta install of rootfs (nothing local matches: every block from the chunk store).
start_bus
start_nginx
head -c 300000 /dev/urandom >"$T/rootfs-4.img"
printf '{"release": "2026.11.4"}\n' >"$T/user_manifest-4"
release "$T/v4.swu" 4 --file rootfs="$T/rootfs-4.img" --file user_manifest="$T/user_manifest-4" \
	--chunked rootfs
publish "$T/v4.swu"
start_daemon
expect_exit 0 ctl install
expect_stdout "Finished: success"
check "slot A does not hold rootfs 4" slot_holds "$DEV/rootfs-A" "$T/rootfs-4.img"
finish
