#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What swu says while signing: signatures dropped by a changed targets metadata, a targets key the
# bundle's root does not list, a root signed by the previous root's key, and whether a rotation is
# complete (inspect-root-metadata --previous).
. "${SRCDIR:-.}/tests/lib.sh"

printf 'one\n' >one.img
printf 'two\n' >two.img
release b.pb 1 --root root.pb --file rootfs=one.img

# --- adding or replacing a file drops the signatures: said on stderr --------------------------
expect_exit 0 "$SWU" add-file-to-bundle --bundle b.pb --file two.img --new-name rootfs --replace
expect_stderr "warning: the targets metadata of 'b.pb' changed: its 1 signature was dropped; sign the bundle again"
expect_exit 1 "$SWU" verify-bundle --bundle b.pb --trusted-root-metadata root.pb
"$SWU" sign-bundle --bundle b.pb --key targets
expect_exit 0 "$SWU" add-file-to-bundle --bundle b.pb --file one.img --new-name appfs
expect_stderr "its 1 signature was dropped"
# Nothing to drop, nothing said.
expect_exit 0 "$SWU" add-file-to-bundle --bundle b.pb --file one.img --new-name appfs --replace
check_not "a warning about signatures an unsigned bundle did not have" grep -q signature "$T/err"

# --- sign-bundle with a key the bundle's root does not list for targets ---------------------------
"$SWU" generate-key stranger >/dev/null
stranger_id=$("$SWU" generate-key stranger2 | sed 's/.*key id \([0-9a-f]*\).*/\1/')
expect_exit 0 "$SWU" sign-bundle --bundle b.pb --key stranger2
expect_stderr "warning: key 'stranger2' ($stranger_id) is not a targets key of this bundle's root: devices will not count its signature"
expect_exit 0 "$SWU" sign-bundle --bundle b.pb --key root
expect_stderr "warning: key 'root' (.*) is not a targets key of this bundle's root"
expect_exit 0 "$SWU" sign-bundle --bundle b.pb --signer "openssl dgst -sha256 -sign $T/stranger" --public-key stranger.pub
expect_stderr "warning: key 'stranger.pub' (.*) is not a targets key of this bundle's root"
expect_exit 0 "$SWU" sign-bundle --bundle b.pb --key targets
check_not "the root's own targets key was warned about" grep -q warning "$T/err"
# Without a root the device's root decides: no warning.
release noroot.pb 1 --file rootfs=one.img --key none
expect_exit 0 "$SWU" sign-bundle --bundle noroot.pb --key stranger
check_not "a bundle without root: warned about its key" grep -q warning "$T/err"

finish
