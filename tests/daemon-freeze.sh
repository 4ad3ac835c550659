#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The timestamp role against nginx: a root that declares it makes the daemon take no release
# without a timestamp signed by the online key; a fresh one is taken. A server frozen at old
# metadata (it keeps answering 304) is noticed once its timestamp expires: the poll fails and
# says why, and the stale release is not installed. A frozen server that answers with an older
# timestamp than one the daemon verified is refused too (the floor is kept in the state
# directory), and so is one signed by the offline targets key. A bundle file needs a timestamp
# too, which swu timestamp --bundle signs into it.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

# The root declares the timestamp role; $T/stamp is the online key.
for k in root targets stamp; do "$SWU" generate-key "$T/$k" >/dev/null; done
"$SWU" create-root-metadata --append-root-key "$T/root.pub" --append-targets-key "$T/targets.pub" \
	--append-timestamp-key "$T/stamp.pub" -o "$T/root.pb"
"$SWU" sign-root-metadata --root-metadata "$T/root.pb" --root-key "$T/root"
stamp() { # stamp LIFETIME [KEY [VERSION]]: the online signer renews the channel's timestamp
	"$SWU" timestamp --dir "$T/repo/stable" --expires "$1" --key "${2:-$T/stamp}" \
		${3:+--version "$3"} >/dev/null
}
served_release
start_daemon

expect_exit 1 ctl check
check "a release without a timestamp is refused" \
	note_has "bundle has no timestamp metadata, which the trusted root requires (threshold 1)"
expect_eq "AvailableVersion without a timestamp" "$(prop AvailableVersion)" 0

stamp 1d "$T/stamp" 2000000000
expect_exit 0 ctl check
expect_stdout "Version 2 is available"
check "the timestamp version is kept" test "$(cat "$DEV/state/timestamp-version")" = 2000000000
cp "$T/repo/stable/metadata.pb" "$T/stamp-1.pb"

# Version 3, stamped for a few seconds; then the server freezes and keeps answering 304.
release "$T/v3.swu" 3 --root "$T/root.pb" # metadata.pb then names the timestamp keys too
publish "$T/v3.swu"
stamp 3s "$T/stamp" 2000000100
expect_exit 0 ctl check
expect_stdout "Version 3 is available"
expired() { [ "$(date +%s)" -gt "$(($(stat -c %Y "$T/repo/stable/metadata.pb") + 4))" ]; }
check "the timestamp did not expire" wait_until 10 expired
expect_exit 1 ctl check
check "the frozen server is noticed" note_has "timestamp expired at .*: its metadata is stale"
check "the poll was a 304" grep -q '"GET /stable/metadata.pb HTTP/1.1" 304' "$T/access.log"
expect_exit 1 ctl install
expect_stdout "Finished: transfer-failed: The server's timestamp expired at .*: its metadata is stale"

# A server that answers with an older timestamp than the one verified.
cp "$T/stamp-1.pb" "$T/repo/stable/metadata.pb"
expect_exit 1 ctl check
expect_stderr "Release rejected: timestamp metadata version 2000000000 is older than version 2000000100 accepted before"
restart_daemon
expect_exit 1 ctl check
expect_stderr "timestamp metadata version 2000000000 is older than version 2000000100 accepted before"

# Signed by the offline targets key instead of the online key: refused.
publish "$T/v3.swu"
expect_exit 0 "$SWU" timestamp --dir "$T/repo/stable" --expires 1d --key "$T/targets" --version 2000000200
expect_stderr "is not a timestamp key of this bundle's root: devices will not count its signature"
expect_exit 1 ctl check
expect_stderr "Release rejected: timestamp metadata has 0 valid signatures by trusted timestamp keys, 1 required"
stamp 1d "$T/stamp" 2000000300
expect_exit 0 ctl check
expect_stdout "Version 3 is available"
expect_exit 0 ctl install
expect_stdout "Finished: success"

# A bundle file (a recovery stick) needs a timestamp too: without one it is refused; swu
# timestamp --bundle signs one into the file, payloads kept, and it installs.
boot_and_confirm B
release "$T/v4.swu" 4 --root "$T/root.pb"
expect_exit 1 ctl install "$T/v4.swu"
expect_stderr "bundle has no timestamp metadata, which the trusted root requires (threshold 1)"
[ "$(prop State)" != finished ] || ctl reset >/dev/null
cp "$T/v4.swu" "$T/v4-unstamped.swu"
expect_exit 0 "$SWU" timestamp --bundle "$T/v4.swu" --expires 7d --key "$T/stamp" --version 2000000400
expect_stdout "^Timestamp version 2000000400 of targets version 4, expires "
expect_exit 0 "$SWU" verify-bundle --bundle "$T/v4.swu" --trusted-root-metadata "$T/root.pb"
check "the stamped bundle lost a payload" cmp -s <(tail -c 4096 "$T/v4.swu") <(tail -c 4096 "$T/v4-unstamped.swu")
expect_exit 0 ctl install "$T/v4.swu"
expect_stdout "Finished: success"
check "slot A does not hold release 4" slot_holds "$DEV/rootfs-A" "$T/rootfs-4.img"
# Stamped by the offline targets key: not a timestamp key, refused like a channel's.
cp "$T/v4-unstamped.swu" "$T/v4-wrong.swu"
"$SWU" timestamp --bundle "$T/v4-wrong.swu" --expires 7d --key "$T/targets" --version 2000000500 \
	>/dev/null 2>&1
expect_exit 1 "$SWU" verify-bundle --bundle "$T/v4-wrong.swu" --trusted-root-metadata "$T/root.pb"
expect_stderr "timestamp metadata has 0 valid signatures by trusted timestamp keys, 1 required"
finish
