#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Renewing a release's expiry without rebuilding it: renew-bundle re-signs the targets metadata
# with a new expiry, the payloads untouched. The version stays (devices that installed the release
# accept it: the anti-rollback floor refuses only lower versions) unless a higher one is asked for;
# a lower one, or an expiry in the past, is refused and nothing written. publish warns about
# targets expiring within 30 days, before the renewal and not after.
. "${SRCDIR:-.}/tests/lib.sh"

date_of() { date -u -d "$1" '+%Y-%m-%d %H:%M:%S'; }
soon=$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)
later=$(date -u -d '+400 days' +%Y-%m-%dT%H:%M:%SZ)
printf 'root filesystem\n' >rootfs.img
printf 'application\n' >appfs.img
files=(--file rootfs=rootfs.img --file appfs=appfs.img)
release b.pb 3 --root root.pb "${files[@]}" --expires "$soon"
"$SWU" export-manifest --bundle b.pb --trusted-root-metadata root.pb -o installed.pb >/dev/null
expect_exit 0 "$SWU" publish --bundle b.pb --dir channel
expect_stderr "warning: the targets metadata expires on $(date_of "$soon") UTC, in 10 days"
ls channel/blobs >blobs.before
cp channel/metadata.pb metadata.before
hashes() { "$SWU" inspect-bundle --json "$1" | python3 -c \
	'import json, sys; print(sorted((t["name"], t["length"], t["sha256"]) for t in json.load(sys.stdin)["targets_metadata"]["targets"]["targets"]))'; }
hashes b.pb >targets.before

# --- renewed and signed in one step: same version, same payloads, a new expiry ------------------
expect_exit 0 "$SWU" renew-bundle --bundle b.pb --expires "$later" --key "$T/targets"
expect_stdout "Renewed b.pb: targets version 3, expires $(date_of "$later") UTC"
expect_exit 0 "$SWU" inspect-bundle b.pb
expect_stdout "Targets metadata 'targets': version 3, expires $(date_of "$later") UTC"
check "the renewal changed the targets" cmp -s targets.before <(hashes b.pb)
# A device that installed version 3 accepts it: the floor refuses only lower versions.
expect_exit 0 "$SWU" verify-bundle --bundle b.pb --trusted-root-metadata root.pb --manifest installed.pb
expect_exit 0 "$SWU" verify-bundle --bundle b.pb --self
# Published again: the same blobs, new metadata, and no warning any more.
expect_exit 0 "$SWU" publish --bundle b.pb --dir channel
check_not "a renewed release was warned about: $(cat "$T/err")" grep -q "expires" "$T/err"
check "the renewal published other blobs" cmp -s blobs.before <(ls channel/blobs)
check_not "the renewal did not change the channel's metadata" cmp -s metadata.before channel/metadata.pb
expect_exit 0 "$SWU" verify-channel --trusted-root-metadata root.pb --manifest installed.pb channel

# --- an expired release comes back ------------------------------------------------------------------
release old.pb 4 --root root.pb "${files[@]}" --expires 2001-01-01T00:00:00Z
expect_exit 1 "$SWU" verify-bundle --bundle old.pb --self
expect_stderr "targets metadata expired at 2001-01-01 00:00:00 UTC"
expect_exit 0 "$SWU" renew-bundle --bundle old.pb --expires "$later" --key "$T/targets"
expect_exit 0 "$SWU" verify-bundle --bundle old.pb --self

# --- the version: kept, raised on request, never lowered ---------------------------------------
cp b.pb b.orig
expect_exit 2 "$SWU" renew-bundle --bundle b.pb --expires "$later" --target-metadata-version 2 --key "$T/targets"
expect_stderr "--target-metadata-version 2 is lower than the release's version 3: devices that installed it would refuse the renewed one"
check "a refused renewal changed the bundle" cmp -s b.pb b.orig
expect_exit 2 "$SWU" renew-bundle --bundle b.pb --expires 2001-01-01T00:00:00Z --key "$T/targets"
expect_stderr "--expires 2001-01-01 00:00:00 UTC is not in the future: devices would refuse the release at once"
check "a renewal into the past changed the bundle" cmp -s b.pb b.orig
expect_exit 2 "$SWU" renew-bundle --bundle b.pb --key "$T/targets"
check "a renewal without --expires changed the bundle" cmp -s b.pb b.orig
chmod 0644 "$T/targets"
expect_exit 2 "$SWU" renew-bundle --bundle b.pb --expires "$later" --key "$T/targets"
expect_stderr "is readable by group or others"
check "a renewal with a refused key changed the bundle" cmp -s b.pb b.orig
chmod 0600 "$T/targets"
expect_exit 0 "$SWU" renew-bundle --bundle b.pb --expires "$later" --target-metadata-version 5 --key "$T/targets"
expect_stdout "Renewed b.pb: targets version 5"
expect_exit 0 "$SWU" verify-bundle --bundle b.pb --trusted-root-metadata root.pb --manifest installed.pb
check "a raised version changed the targets" cmp -s targets.before <(hashes b.pb)

# --- without a key (a targets threshold above 1): signatures dropped, signed afterwards ------------
expect_exit 0 "$SWU" renew-bundle --bundle b.pb --expires "$soon"
expect_stderr "warning: the targets metadata of 'b.pb' changed: its 1 signature was dropped; sign the bundle again"
expect_exit 1 "$SWU" verify-bundle --bundle b.pb --self
"$SWU" sign-bundle --bundle b.pb --key "$T/targets"
expect_exit 0 "$SWU" verify-bundle --bundle b.pb --self
expect_exit 0 "$SWU" publish --bundle b.pb --dir channel
expect_stderr "warning: the targets metadata expires on $(date_of "$soon") UTC, in 10 days"

finish
