#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bundles laid out as Pigweed's tools write them (fields in number order: targets metadata,
# payloads, then the root) installed from a URL. One that rotates the root cannot be verified
# while it streams (the new targets key is authorised by a root that has not arrived yet): it is
# staged and installs. One whose trailing root is the trusted one streams without staging.
. "${SRCDIR:-.}/tests/daemon-lib.sh"
: "${SWUPDATECTL:?}"

device_setup grub
start_bus
start_nginx
start_daemon
make_keys
"$SWU" generate-key "$T/targets2" >/dev/null
"$SWU" create-root-metadata --append-root-key "$T/root.pub" --append-targets-key "$T/targets2.pub" \
	--previous "$T/root.pb" -o "$T/root2.pb"
"$SWU" sign-root-metadata --root-metadata "$T/root2.pb" --root-key "$T/root"
pigweed() { python3 "$SRCDIR/tests/forge.py" order "$1" "$T/repo/$2" --pigweed; }
staged() { grep -c "cannot be verified while it streams: staging it" "$T/daemon.log" || :; }

# A rotation in Pigweed's order: staged, then installed; the new root is kept.
release "$T/v2.swu" 2 --root "$T/root2.pb" --key "$T/targets2"
pigweed "$T/v2.swu" v2-pigweed.swu
expect_exit 0 ctl install "http://127.0.0.1:$PORT/v2-pigweed.swu"
expect_stdout "Finished: success"
expect_eq "staged" "$(staged)" 1
check "slot B does not hold release 2" slot_holds "$DEV/rootfs-B" "$T/rootfs-2.img"
expect_eq "rotated roots kept" "$(find "$DEV/state/roots" -type f | wc -l)" 1

# The trusted root at the end: nothing to wait for, it streams.
expect_exit 0 ctl reset
release "$T/v3.swu" 3 --root "$T/root2.pb" --key "$T/targets2"
pigweed "$T/v3.swu" v3-pigweed.swu
expect_exit 0 ctl install "http://127.0.0.1:$PORT/v3-pigweed.swu"
expect_stdout "Finished: success"
expect_eq "staged" "$(staged)" 1

# A stranger's signature with no root to follow is refused for what it is, after staging.
expect_exit 0 ctl reset
"$SWU" generate-key "$T/stranger" >/dev/null
release "$T/v4.swu" 4 --key "$T/stranger"
pigweed "$T/v4.swu" v4-pigweed.swu
expect_exit 1 ctl install "http://127.0.0.1:$PORT/v4-pigweed.swu"
expect_stdout "0 valid signatures by trusted targets keys"
expect_eq "primary" "$(primary)" B

# A rotation of the root key alone: the targets verify under the trusted root, the payloads
# stream into slot B, and only then does the new root arrive. What was written is dropped and
# the staged bundle installs from the start.
expect_exit 0 ctl reset
"$SWU" generate-key "$T/root3" >/dev/null
"$SWU" create-root-metadata --append-root-key "$T/root3.pub" --append-targets-key "$T/targets2.pub" \
	--previous "$T/root2.pb" -o "$T/root3.pb"
"$SWU" sign-root-metadata --root-metadata "$T/root3.pb" --root-key "$T/root" >/dev/null 2>&1
"$SWU" sign-root-metadata --root-metadata "$T/root3.pb" --root-key "$T/root3" >/dev/null 2>&1
release "$T/v5.swu" 5 --root "$T/root3.pb" --key "$T/targets2"
pigweed "$T/v5.swu" v5-pigweed.swu
before=$(staged)
expect_exit 0 ctl install "http://127.0.0.1:$PORT/v5-pigweed.swu"
expect_stdout "Finished: success"
expect_eq "staged" "$(staged)" $((before + 1))
check "slot B does not hold release 5" slot_holds "$DEV/rootfs-B" "$T/rootfs-5.img"
expect_eq "rotated roots kept" "$(find "$DEV/state/roots" -type f | wc -l)" 2
finish
