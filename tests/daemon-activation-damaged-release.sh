#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The kept release is verified again at each start: a damaged one is not used (AvailableVersion
# is what verifies, not what status.json says), and the next poll asks in full.
. "${SRCDIR:-.}/tests/daemon-activation-lib.sh"

activation_setup
expect_exit 0 ctl poll # the release is kept
wait_gone 5

cp "$DEV/state/release.pb" "$T/release.pb"
# A byte of the signed targets metadata (the compatible string in it).
flip_byte "$DEV/state/release.pb" "$(grep -abo acme-gw-v2 "$DEV/state/release.pb" | tail -n 1 | cut -d: -f1)"
expect_eq "AvailableVersion with a damaged kept release" "$(prop AvailableVersion)" 0
check "the damaged release was not reported" grep -q "Not using the kept release" "$T/daemon.log"
expect_exit 0 ctl poll
expect_stdout "Version 2 is available"
expect_eq "metadata answer after the damaged release" \
	"$(grep -o 'GET /stable/metadata.pb HTTP/1.1" [0-9]*' "$T/access.log" | tail -n 1 | awk '{ print $NF }')" 200
check "release.pb was not written again" cmp -s "$DEV/state/release.pb" "$T/release.pb"
wait_gone 5
finish
