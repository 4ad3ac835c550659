#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Staged rollouts and a halt, signed by the online timestamp key, against nginx: a release at 0%
# is shown but not installed by itself (Rollout and the Note say why), a renewal by the online
# signer's timer keeps the percentage, 100% installs it. A halted release is installed by nobody,
# not even on an operator's Install; resumed at 0%, an operator's Install takes it. The online
# key cannot add anything: a rollout never makes the device take what the targets key did not
# sign.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

for k in root targets stamp; do "$SWU" generate-key "$T/$k" >/dev/null; done
"$SWU" create-root-metadata --append-root-key "$T/root.pub" --append-targets-key "$T/targets.pub" \
	--append-timestamp-key "$T/stamp.pub" -o "$T/root.pb"
"$SWU" sign-root-metadata --root-metadata "$T/root.pb" --root-key "$T/root"
online() { # online COMMAND OPTIONS...: the online signer's swu timestamp or swu rollout
	local cmd=$1
	shift
	"$SWU" "$cmd" --dir "$T/repo/stable" --key "$T/stamp" "$@" >"$T/online.out" ||
		fail "swu $cmd $* failed"
}
served_release
printf '%s\n' 0123456789abcdef0123456789abcdef >"$DEV/machine-id"
conf_add Update "MachineIdFile=$DEV/machine-id"
AUTO_INSTALL=yes start_daemon

# A new release waits for the rollout: the timer signs it at 0%.
online timestamp --expires 1d --initial-percent 0
check "swu timestamp prints the rollout" grep -qx "Rollout: 0%" "$T/online.out"
expect_exit 0 ctl check
expect_stdout "Version 2 is available"
expect_eq "Rollout at 0%" "$(prop Rollout)" "rollout 0%, this device not yet"
check "the Note says why it waits" note_has \
	"Release version 2 is available (installed 0); rollout 0%, this device not yet: not installed automatically"
expect_eq "State at 0%" "$(prop State)" inactive
expect_exit 0 ctl status
expect_stdout "rollout 0%, this device not yet"

# The signer waits for the channel's lock (held here as a publish would hold it): it never writes
# back a metadata.pb it read before another command rewrote it.
rm -f "$T/held" "$T/release-lock"
flock "$T/repo/stable" sh -c 'touch "$1/held"; while [ ! -e "$1/release-lock" ]; do sleep 0.1; done' \
	sh "$T" &
holder=$!
wait_until 10 test -e "$T/held" || fail "the lock was not taken"
"$SWU" timestamp --dir "$T/repo/stable" --key "$T/stamp" --expires 1d >/dev/null &
stamper=$!
sleep 1
check "swu timestamp did not wait for the lock" kill -0 "$stamper"
touch "$T/release-lock"
wait "$holder"
check "swu timestamp failed after the lock" wait "$stamper"

# The timer renews it: the same release keeps its percentage.
online timestamp --expires 1d
check "a renewal keeps the rollout" grep -qx "Rollout: 0%" "$T/online.out"
expect_exit 0 ctl check
expect_eq "Rollout after a renewal" "$(prop Rollout)" "rollout 0%, this device not yet"
expect_eq "State after a renewal" "$(prop State)" inactive

# Not before its start, whatever the percentage.
online rollout --percent 100 --start 2100-01-01T00:00:00Z
expect_exit 0 ctl check
expect_eq "Rollout before its start" "$(prop Rollout)" \
	"rollout 100% from 2100-01-01 00:00:00 UTC, not started"
expect_eq "State before the start" "$(prop State)" inactive

# Everyone: the device installs it by itself.
online rollout --percent 100 --start 1970-01-01T00:00:00Z
check "swu rollout prints the rollout" grep -q "^Rollout: 100%" "$T/online.out"
expect_exit 0 ctl check
wait_state finished 60
expect_eq "result at 100%" "$(prop Result)" success
expect_eq "Rollout at 100%" "$(prop Rollout)" "rollout 100%, this device included"
boot_and_confirm B

# Version 3 goes out, and is halted: nobody installs it, not even an operator.
release "$T/v3.swu" 3 --root "$T/root.pb"
publish "$T/v3.swu"
online timestamp --expires 1d --initial-percent 100
online rollout --halt
check "swu rollout says halted" grep -q "^Rollout: 100%, halted" "$T/online.out"
expect_exit 0 "$SWU" verify-channel --trusted-root-metadata "$T/root.pb" --compatible acme-gw-v2 \
	"$T/repo/stable"
expect_stdout "^Timestamp version [0-9]*, expires .*; rollout: 100%, halted$"
expect_exit 0 ctl check
expect_eq "AvailableVersion while halted" "$(prop AvailableVersion)" 3
expect_eq "Rollout while halted" "$(prop Rollout)" halted
check "the Note says halted" note_has \
	"Release version 3 is available (installed 2); halted: not installed automatically"
expect_eq "State while halted" "$(prop State)" inactive
expect_exit 1 ctl install
expect_stdout "Finished: verify-failed: Release version 3 is halted by its publisher (a halted rollout): not installed"
expect_eq "installed while halted" "$(prop InstalledVersion)" 2
check "slot A was written while halted" not slot_holds "$DEV/rootfs-A" "$T/rootfs-3.img"
expect_exit 0 ctl reset

# Resumed at 0%: not automatically, but an operator's Install takes it.
online rollout --percent 0
expect_exit 0 ctl check
expect_eq "Rollout resumed at 0%" "$(prop Rollout)" "rollout 0%, this device not yet"
expect_eq "State resumed at 0%" "$(prop State)" inactive
expect_exit 0 ctl install
expect_stdout "Finished: success"

# The online key only narrows: a rollout over metadata the targets key did not sign is refused
# like any other.
expect_exit 0 ctl reset
cp "$T/repo/stable/metadata.pb" "$T/good.pb"
python3 - "$T/repo/stable/metadata.pb" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
i = b.find(b"rootfs")  # a byte of the targets metadata, which the targets key signed
b[i] ^= 1
open(p, "wb").write(b)
PY
online rollout --percent 100
expect_exit 1 ctl check
expect_stderr "Release rejected: targets metadata has 0 valid signatures"
finish
