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

# --- a rotated root: the previous root's key signs it, and devices need exactly that ---------------
old_id=$("$SWU" generate-key old | sed 's/.*key id \([0-9a-f]*\).*/\1/')
new_id=$("$SWU" generate-key new | sed 's/.*key id \([0-9a-f]*\).*/\1/')
"$SWU" create-root-metadata --append-root-key old.pub --append-targets-key targets.pub -o r1.pb
"$SWU" sign-root-metadata --root-metadata r1.pb --root-key old
"$SWU" create-root-metadata --append-root-key new.pub --append-targets-key targets.pub --previous r1.pb -o r2.pb
expect_exit 0 "$SWU" sign-root-metadata --root-metadata r2.pb --root-key old
expect_stderr "'old' is not a root key of this metadata: its signature counts for devices that trust a previous root listing it"
check_not "the previous root's key was said not to count" grep -q "will not count" "$T/err"

# inspect-root-metadata --previous: is the rotation valid, and which signatures are missing?
expect_exit 1 "$SWU" inspect-root-metadata --previous r1.pb r2.pb
expect_stdout "Rotation from 'r1.pb' (version 1) to version 2: not valid: root metadata has 0 valid signatures by its own root keys, 1 required"
expect_stdout "previous root's root keys: 1 of 1 required signed"
expect_stdout "key $old_id: signed"
expect_stdout "its own root keys: 0 of 1 required signed, 1 more needed"
expect_stdout "key $new_id: missing"
"$SWU" sign-root-metadata --root-metadata r2.pb --root-key new
expect_exit 0 "$SWU" inspect-root-metadata --previous r1.pb r2.pb
expect_stdout "Rotation from 'r1.pb' (version 1) to version 2: valid"
expect_stdout "key $new_id: signed"
check_not "a valid rotation lists a missing signature" grep -q "missing\|more needed" "$T/out"
# Signed by its own key only: the previous root's is missing.
cp r2.pb r2-own.pb
"$SWU" create-root-metadata --append-root-key new.pub --append-targets-key targets.pub --previous r1.pb -o r2-own.pb
"$SWU" sign-root-metadata --root-metadata r2-own.pb --root-key new
expect_exit 1 "$SWU" inspect-root-metadata --previous r1.pb r2-own.pb
expect_stdout "not valid: root metadata has 0 valid signatures by trusted root keys, 1 required"
expect_stdout "previous root's root keys: 0 of 1 required signed, 1 more needed"
expect_stdout "key $old_id: missing"
# A rotation devices refuse for its version, and the same root (no rotation at all).
"$SWU" create-root-metadata --append-root-key new.pub --append-targets-key targets.pub --version 1 -o r1b.pb
"$SWU" sign-root-metadata --root-metadata r1b.pb --root-key old 2>/dev/null
"$SWU" sign-root-metadata --root-metadata r1b.pb --root-key new
expect_exit 1 "$SWU" inspect-root-metadata --previous r1.pb r1b.pb
expect_stdout "not valid: root metadata version 1 differs from the trusted root of the same version"
expect_exit 0 "$SWU" inspect-root-metadata --previous r1.pb r1.pb
expect_stdout "'r1.pb' is the same root: no rotation"
expect_exit 2 "$SWU" inspect-root-metadata --previous missing.pb r2.pb

finish
