#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bundles swu never writes (tests/forge.py), refused by swu and by the device before anything
# is written though they carry valid signatures:
#  - signed strings that C would read short: a NUL byte or invalid UTF-8 in a target name, the
#    role or a compatible string;
#  - signature flooding: 10,000 bogus signatures claiming the listed key before the good one.
. "${SRCDIR:-.}/tests/device-lib.sh"

device_setup grub
release "$T/good.swu" 2
forge() { # forge NAME EDIT...: good.swu edited and signed again with the targets key
	local out=$T/$1.swu
	shift
	python3 "$SRCDIR/tests/forge.py" edit "$T/good.swu" "$out" "$@" --sign "$T/targets"
}
# rootfs\0/../../etc/shadow would be installed as "rootfs".
forge nul-name --rename 'rootfs=rootfs\x00/../../etc/shadow'
# targets\0root would count as the role "targets".
forge nul-role --role 'targets\x00root'
# acme-gw-v2\0evil would match this device's Compatible=acme-gw-v2.
forge nul-compatible --compatible 'acme-gw-v2\x00evil'
forge utf8-name --rename 'appfs=app\xc0\xaf'
forge utf8-spec --spec-version '0.0.\xff'
forge flood --flood "10000:$T/targets.pub"

before=$(fingerprint)
for name in nul-name nul-role nul-compatible utf8-name utf8-spec flood; do
	expect_exit 1 "$SWU" verify-bundle --bundle "$T/$name.swu" --trusted-root-metadata "$T/root.pb"
	expect_exit 1 swupdated install "$T/$name.swu"
	case $name in
	nul-*) expect_stderr "holds a NUL byte" ;;
	utf8-*) expect_stderr "is not valid UTF-8" ;;
	flood) expect_stderr "signatures, at most 32 are accepted" ;;
	esac
done
after=$(fingerprint | grep -v history.jsonl)
expect_eq "the device after the refusals" "$after" "$(echo "$before" | grep -v history.jsonl)"
# The same bundle with honest strings installs.
expect_exit 0 swupdated install "$T/good.swu"
finish
