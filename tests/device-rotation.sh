#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Root rotation on a device, through the one-shot swupdated (a new process, so a "restart",
# every time): a rotation revokes a targets key; a different root of the same version (as
# Pigweed's own tests rotate) is refused, so old bundles carrying it cannot undo the
# revocation; 300 verifications later the revoked key is still refused and the persisted chain
# has not grown. State left by earlier versions (duplicate and equal-version links) is repaired
# at start.
. "${SRCDIR:-.}/tests/device-lib.sh"

device_setup grub
"$SWU" generate-key "$T/targets2" >/dev/null
# root2 (version 2) revokes "targets" for "targets2"; root2b is another root of version 2.
"$SWU" create-root-metadata --append-root-key "$T/root.pub" --append-targets-key "$T/targets2.pub" \
	--previous "$T/root.pb" -o "$T/root2.pb"
"$SWU" sign-root-metadata --root-metadata "$T/root2.pb" --root-key "$T/root"
"$SWU" create-root-metadata --append-root-key "$T/root.pub" --append-targets-key "$T/targets.pub" \
	--version 2 -o "$T/root2b.pb"
"$SWU" sign-root-metadata --root-metadata "$T/root2b.pb" --root-key "$T/root"
expect_exit 0 "$SWU" inspect-root-metadata "$T/root2.pb"
expect_stdout "version: 2"

# Installed version 5: the bundles below (version 1) run rule 2, then fail rule 3.
release "$T/v5.swu" 5
expect_exit 0 swupdated install "$T/v5.swu"
reboot_into B
expect_exit 0 swupdated mark-good
release "$T/rotate.swu" 1 --root "$T/root2.pb" --key "$T/targets2"
release "$T/undo.swu" 1 --root "$T/root2b.pb" --key "$T/targets"

roots() { find "$DEV/state/roots" -type f 2>/dev/null | wc -l; }

expect_exit 1 swupdated install "$T/rotate.swu"
expect_stderr "targets metadata version 1 is older than installed version 5"
expect_eq "links after the rotation" "$(roots)" 1
expect_exit 1 swupdated install "$T/undo.swu"
expect_stderr "root metadata version 2 differs from the trusted root of the same version"
for ((i = 0; i < 150; i++)); do
	expect_exit 1 swupdated install "$T/undo.swu"
	expect_exit 1 swupdated install "$T/rotate.swu"
done
expect_eq "links after 300 verifications" "$(roots)" 1

# The revoked key stays revoked; the new one installs.
release "$T/revoked.swu" 6
expect_exit 1 swupdated install "$T/revoked.swu"
expect_stderr "0 valid signatures by trusted targets keys"
release "$T/v6.swu" 6 --key "$T/targets2"
expect_exit 0 swupdated install "$T/v6.swu"

# A chain as earlier versions left it: equal-version and duplicate links. Repaired at start.
link=$(find "$DEV/state/roots" -type f)
cp "$T/root2b.pb" "$DEV/state/roots/00000002.pb"
cp "$link" "$DEV/state/roots/00000003.pb"
cp "$link" "$DEV/state/roots/00000004.pb"
expect_exit 0 swupdated status --json
check "not repaired: $(cat "$T/err")" test "$(grep -c "Removed obsolete rotated root" "$T/err")" = 3
expect_eq "links after the repair" "$(roots)" 1
expect_exit 0 swupdated status --json
check_not "warned again after the repair" grep "rotated root" "$T/err"
finish
