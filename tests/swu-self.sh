#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Rule 6: verify-bundle --self and publish refuse what a device with the bundle's own root refuses
# (too few targets signatures, expired metadata), with the device's sentence; publish warns about
# metadata that expires within 30 days.
. "${SRCDIR:-.}/tests/lib.sh"

printf 'rootfs\n' >rootfs.img
files=(--file rootfs=rootfs.img)

# --- unsigned and under-signed bundles that carry a root --------------------------------------
release unsigned.pb 1 --root root.pb "${files[@]}" --key none
expect_exit 1 "$SWU" verify-bundle --bundle unsigned.pb --self
expect_stderr "targets metadata has 0 valid signatures by trusted targets keys, 1 required"
expect_exit 1 "$SWU" publish --bundle unsigned.pb --dir repo-unsigned
expect_stderr "Refusing to publish 'unsigned.pb': targets metadata has 0 valid signatures"
check "publish wrote a channel for an unsigned bundle" test ! -e repo-unsigned/metadata.pb

"$SWU" generate-key targets2 >/dev/null
"$SWU" create-root-metadata --append-root-key root.pub --append-targets-key targets.pub \
	--append-targets-key targets2.pub --targets-threshold 2 -o root-t2.pb
"$SWU" sign-root-metadata --root-metadata root-t2.pb --root-key root
release one-of-two.pb 1 --root root-t2.pb "${files[@]}"
expect_exit 1 "$SWU" verify-bundle --bundle one-of-two.pb --self
expect_stderr "targets metadata has 1 valid signatures by trusted targets keys, 2 required"
expect_exit 1 "$SWU" publish --bundle one-of-two.pb --dir repo-one
expect_stderr "1 valid signatures by trusted targets keys, 2 required"
check "publish wrote a channel for an under-signed bundle" test ! -e repo-one/metadata.pb
# The device with that root agrees, and the second signature makes both accept it.
expect_exit 1 "$SWU" verify-bundle --bundle one-of-two.pb --trusted-root-metadata root-t2.pb
"$SWU" sign-bundle --bundle one-of-two.pb --key targets2
expect_exit 0 "$SWU" verify-bundle --bundle one-of-two.pb --self
expect_exit 0 "$SWU" verify-bundle --bundle one-of-two.pb --trusted-root-metadata root-t2.pb
expect_exit 0 "$SWU" publish --bundle one-of-two.pb --dir repo-one
check "a fully signed bundle was not published" test -s repo-one/metadata.pb

# --- without a root the device's root decides, but no root accepts no signature --------------------
release noroot-unsigned.pb 1 "${files[@]}" --key none
expect_exit 1 "$SWU" verify-bundle --bundle noroot-unsigned.pb --self
expect_stderr "targets metadata is not signed"
expect_exit 1 "$SWU" publish --bundle noroot-unsigned.pb --dir repo-noroot
expect_stderr "targets metadata is not signed"
check "publish wrote a channel for an unsigned bundle without root" test ! -e repo-noroot/metadata.pb
release noroot.pb 1 "${files[@]}"
expect_exit 0 "$SWU" verify-bundle --bundle noroot.pb --self
expect_stdout "no root metadata: its signatures were not checked"
expect_exit 0 "$SWU" publish --bundle noroot.pb --dir repo-noroot
expect_stdout "no root metadata: its signatures were not checked"

# --- expiry: refused once expired, a warning within 30 days, nothing after that ----------------------
release expired.pb 1 --root root.pb "${files[@]}" --expires 2001-01-01T00:00:00Z
expect_exit 1 "$SWU" publish --bundle expired.pb --dir repo-expired
expect_stderr "Refusing to publish 'expired.pb': targets metadata expired at 2001-01-01 00:00:00 UTC"
check "publish wrote a channel for an expired bundle" test ! -e repo-expired/metadata.pb
soon=$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)
release soon.pb 1 --root root.pb "${files[@]}" --expires "$soon"
expect_exit 0 "$SWU" publish --bundle soon.pb --dir repo-soon
expect_stderr "warning: the targets metadata expires on $(date -u -d "$soon" '+%Y-%m-%d %H:%M:%S') UTC, in 10 days"
check "a bundle expiring in 10 days was not published" test -s repo-soon/metadata.pb
later=$(date -u -d '+31 days' +%Y-%m-%dT%H:%M:%SZ)
release later.pb 1 --root root.pb "${files[@]}" --expires "$later"
expect_exit 0 "$SWU" publish --bundle later.pb --dir repo-later
check_not "a bundle expiring in 31 days was warned about" grep -q expires "$T/err"
check_not "a bundle with a compatible string was warned about" grep -q "compatible" "$T/err"
# Within a day: in hours or minutes, not rounded up to "1 day".
shortly=$(date -u -d '+150 seconds' +%Y-%m-%dT%H:%M:%SZ)
release shortly.pb 1 --root root.pb "${files[@]}" --expires "$shortly"
expect_exit 0 "$SWU" publish --bundle shortly.pb --dir repo-shortly
expect_stderr "UTC, in [23] minutes: devices refuse it from then on"

# --- no compatible string: every device installs it, said at signing and publishing -----------
release anyhw.pb 1 --root root.pb "${files[@]}" --compatible none
expect_exit 0 "$SWU" sign-bundle --bundle anyhw.pb --key "$T/targets"
expect_stderr "warning: 'anyhw.pb' names no compatible hardware (create-empty-bundle --compatible): every device installs it"
expect_exit 0 "$SWU" publish --bundle anyhw.pb --dir repo-anyhw
expect_stderr "names no compatible hardware"

finish
