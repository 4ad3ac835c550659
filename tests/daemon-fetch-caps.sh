#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The body caps of fetch.c against a server that announces no length (tests/fake-server.py):
# metadata.pb that never ends (TUF's endless data attack) is cut at the metadata bound while it
# streams, a blob that runs on past its signed length is cut at it, and a resume answered 206
# with more than the rest of the blob is cut at the rest (the cap less the offset). Each is
# refused by fetch.c itself, with its sentence, before any timeout could end it; the booted slot
# and the bootloader are untouched.
. "${SRCDIR:-.}/tests/daemon-lib.sh"
: "${SWUPDATECTL:?}"

device_setup grub
start_bus
release "$T/v2.swu" 2
publish "$T/v2.swu"
start_fake_server endless-metadata
start_daemon
# A poll that runs into the timeout instead of the cap ends here, and says "Timeout".
sed -i 's/^ConnectTimeoutSec=5/ConnectTimeoutSec=5\nPollTimeoutSec=5/; s/^Retries=3/Retries=1/' \
	"$DEV/swupdated.conf"
booted_hash=$(sha256sum <"$DEV/rootfs-A")

untouched() { # untouched WHAT
	expect_eq "$1: primary" "$(primary)" A
	expect_eq "$1: booted slot hash" "$(sha256sum <"$DEV/rootfs-A")" "$booted_hash"
	check "$1: an install is pending" test ! -e "$DEV/state/pending.json"
}

# metadata.pb without an end: Check fails at once with the cap's sentence.
use_server "$SERVER"
restart_daemon
t0=$(date +%s)
expect_exit 1 timeout 30 "$SWUPDATECTL" --address "$DBUS_SYSTEM_BUS_ADDRESS" check
elapsed=$(($(date +%s) - t0))
expect_stderr "the server sent more than the 4194304 bytes expected"
check "endless metadata: Check() took $elapsed s" test "$elapsed" -le 4
check "endless metadata: no release" test "$(prop AvailableVersion)" = 0
untouched "endless metadata"

# scenario MODE NOTE: a fresh fake server in MODE, an install that must fail verify-failed with
# fetch.c's NOTE, the blob cut where its cap says.
scenario() {
	stop_fake_server
	start_fake_server "$1"
	use_server "$SERVER"
	restart_daemon
	expect_exit 1 timeout 60 "$SWUPDATECTL" --address "$DBUS_SYSTEM_BUS_ADDRESS" install
	expect_eq "$1: result" "$(prop Result)" verify-failed
	check "$1: the Note lacks '$2'" note_has "$2"
	untouched "$1"
	ctl reset >/dev/null || true
}
size=$(stat -c %s "$T/rootfs-2.img")
scenario endless-blob "rejected: the server sent more than the $size bytes expected"
scenario long-206 "rejected: the server sent more than the $size bytes expected"
check "long-206: no resume asked for: $(cat "$T/fake.log")" grep -q "GET /stable/blobs/.* bytes=" "$T/fake.log"
finish
