#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bootloader=custom: the backend executable gets get-primary / set-primary SLOT /
# set-state SLOT good|bad, and a failing backend fails the install without a pending record.
# Before the first byte is written the target slot is taken out of the boot order; a backend
# that cannot do that stops the install before anything is written. mark-good with nothing
# pending confirms only the slot the backend boots first.
. "${SRCDIR:-.}/tests/device-lib.sh"

device_setup grub
cat >"$DEV/backend" <<'SH'
#!/bin/sh
# A test bootloader: the primary slot in a file, every call logged.
echo "$*" >>"$(dirname "$0")/calls"
[ "$*" = "$(cat "$(dirname "$0")/fail" 2>/dev/null)" ] && exit 3
case $1 in
get-primary) cat "$(dirname "$0")/primary" 2>/dev/null || echo A ;;
set-primary) echo "$2" >"$(dirname "$0")/primary" ;;
set-state | get-state) ;;
*) exit 2 ;;
esac
SH
chmod +x "$DEV/backend"
sed -i "s|^Bootloader=grub|Bootloader=custom\nCustomBackend=$DEV/backend|" "$DEV/swupdated.conf"
release "$T/v2.swu" 2
release "$T/v3.swu" 3

expect_exit 0 swupdated install "$T/v2.swu"
expect_eq "calls after install" "$(cat "$DEV/calls")" "set-state B bad
set-primary A
set-primary B
set-state B good"
reboot_into B
: >"$DEV/calls"
expect_exit 0 swupdated mark-good
expect_eq "calls after mark-good" "$(cat "$DEV/calls")" "set-primary B
set-state B good"
expect_exit 0 swupdated install "$T/v3.swu"
reboot_into A
: >"$DEV/calls"
expect_exit 0 swupdated mark-bad
expect_eq "calls after mark-bad" "$(cat "$DEV/calls")" "set-state A bad
set-primary B"

# A backend that fails the switch: the install fails, nothing stays pending.
reboot_into B
echo "set-primary A" >"$DEV/fail"
expect_exit 1 swupdated install "$T/v3.swu"
expect_stderr "cannot switch the bootloader to slot A"
expect_eq "pending after a failed switch" "$(rm "$DEV/fail"; status_field pending_slot)" ""
# A backend that cannot take the slot out of the boot order: nothing is written.
truncate -s 0 "$DEV/rootfs-A" && truncate -s "$SLOT_SIZE" "$DEV/rootfs-A"
echo "set-state A bad" >"$DEV/fail"
expect_exit 1 swupdated install "$T/v3.swu"
expect_stderr "cannot take slot A out of the boot order before writing it"
check "slot A was written without leaving the boot order" test "$(tr -d '\0' <"$DEV/rootfs-A" | wc -c)" = 0
rm "$DEV/fail"

# Nothing pending, and the backend boots slot A first: B booted only as the fallback. mark-good
# asks for the primary slot and changes nothing.
echo A >"$DEV/primary"
: >"$DEV/calls"
expect_exit 1 swupdated mark-good
expect_stderr "slot B booted, but the bootloader boots slot A first"
expect_eq "calls of a refused mark-good" "$(cat "$DEV/calls")" "get-primary"
# The primary slot booted: confirmed again (the counter reset of every boot's health check).
echo B >"$DEV/primary"
: >"$DEV/calls"
expect_exit 0 swupdated mark-good
expect_eq "calls of mark-good with nothing pending" "$(cat "$DEV/calls")" "get-primary
set-primary B
set-state B good"
finish
