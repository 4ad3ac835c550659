#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A whole bundle from a URL is capped, streamed or staged, by what the inactive slots can take
# (their real sizes, block devices too) plus its metadata, and by MaxBundleSize=: a server
# cannot fill the staging directory or keep a device downloading. With root and loop devices
# the slots are block devices; otherwise the loop part is skipped and file slots are used.
SLOT_SIZE=$((8 * 1024 * 1024))
. "${SRCDIR:-.}/tests/daemon-lib.sh"
: "${SWUPDATECTL:?}"

loops=()
caps_cleanup() {
	service_cleanup
	for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || :; done
	rm -rf "$T"
}
trap caps_cleanup EXIT

device_setup grub
if [ "$(id -u)" = 0 ] && command -v losetup >/dev/null && losetup -f >/dev/null 2>&1; then
	for s in rootfs-A rootfs-B appfs-A appfs-B; do
		l=$(losetup -f --show "$DEV/$s") || break
		loops+=("$l")
		sed -i "s|^Device=$DEV/$s\$|Device=$l|" "$DEV/swupdated.conf"
	done
fi
echo "slots on ${#loops[@]} loop devices"
start_bus
start_nginx "" "log_format bytes '\$bytes_sent \$request'; access_log $T/bytes.log bytes;"
start_daemon
served() { awk -v u="$1" '$3 == u { s += $1 } END { print s + 0 }' "$T/bytes.log"; }

# 40 MiB of payloads before the metadata: it must be staged, and the staging stops at the cap:
# two 8 MiB slots of slot B, plus 4 MiB of metadata.
head -c $((20 * 1024 * 1024)) /dev/urandom >"$T/rootfs.img"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$T/appfs.img"
release "$T/big.swu" 2 --file rootfs="$T/rootfs.img" --file appfs="$T/appfs.img"
python3 "$SRCDIR/tests/forge.py" order "$T/big.swu" "$T/repo/big.swu" --payloads-first
expect_exit 1 ctl install "http://127.0.0.1:$PORT/big.swu"
expect_stdout "more than the $((20 * 1024 * 1024)) bytes expected"
expect_eq "result" "$(prop Result)" verify-failed
# (what nginx counts as sent includes what socket buffers held when the device stopped)
check "the server sent $(served /big.swu) bytes" test "$(served /big.swu)" -lt $((30 * 1024 * 1024))
check "the staged bundle was left behind" test -z "$(ls -A "$DEV/staging" 2>/dev/null)"
expect_eq "primary" "$(primary)" A

# MaxBundleSize= caps it lower, streamed (metadata first) as well.
expect_exit 0 ctl reset
cp "$T/big.swu" "$T/repo/big-streamed.swu"
sed -i 's/^StagingDirectory=/MaxBundleSize=4M\nStagingDirectory=/' "$DEV/swupdated.conf"
restart_daemon
expect_exit 1 ctl install "http://127.0.0.1:$PORT/big-streamed.swu"
expect_stdout "more than the 4194304 bytes expected"
check "the server sent $(served /big-streamed.swu) bytes" test "$(served /big-streamed.swu)" -lt $((30 * 1024 * 1024))
release "$T/small.swu" 2
cp "$T/small.swu" "$T/repo/small.swu"
sed -i 's/^MaxBundleSize=4M/MaxBundleSize=8M/' "$DEV/swupdated.conf"
restart_daemon
expect_exit 0 ctl reset
expect_exit 0 ctl install "http://127.0.0.1:$PORT/small.swu"
expect_eq "result within MaxBundleSize=" "$(prop Result)" success
finish
