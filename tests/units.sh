#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The service's sandbox: `systemd-analyze security --offline=true` rates it at most 4.0.
. "${SRCDIR:-.}/tests/lib.sh"
: "${BUILDDIR:?}"
command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }

unit="$BUILDDIR/systemd/swupdated.service"
expect_exit 0 systemd-analyze security --offline=true --no-pager "$unit"
level=$(sed -n 's/.*Overall exposure level for swupdated.service: \([0-9.]*\).*/\1/p' "$T/out")
echo "exposure level: $level"
checks=$((checks + 1))
awk -v l="$level" 'BEGIN { exit !(l != "" && l <= 4.0) }' || fail "exposure level '$level' is above 4.0"
checks=$((checks + 1))
grep -q '^Type=notify' "$unit" && grep -q '^WatchdogSec=' "$unit" && grep -q '^Restart=on-failure' "$unit" ||
	fail "the unit lacks Type=notify, WatchdogSec= or Restart=on-failure"
checks=$((checks + 1))
grep -q "ExecStart=.*/swupdatectl mark-good" "$BUILDDIR/systemd/swupdated-mark-good.service" ||
	fail "swupdated-mark-good.service does not run swupdatectl mark-good"
# The shipped example configuration parses.
expect_exit 0 "$BUILDDIR/daemon/swupdated" --config "$SRCDIR/conf/swupdated.conf" status --json
expect_stdout '"compatible": "acme-gw-v2"'
finish
