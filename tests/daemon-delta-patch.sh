#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Patch stores: release 1 is installed from the server and confirmed; release 2 changes a few
# bytes in every 64 KiB (a relinked binary). swu publish made a patch store for devices holding
# release 1, and the daemon takes it (its magic asked for first): a few KiB, where the chunk store
# costs a block a change. Without it, the chunk store; a patch store that lies costs a fallback to
# the blob, never a wrong slot; an active slot that does not hold the image gets the chunk store.
. "${SRCDIR:-.}/tests/daemon-delta-lib.sh"

delta_device
delta_nginx
delta_release 1 block
start_daemon
expect_exit 0 ctl install
boot_and_confirm B
v1=$(sha256sum "$T/rootfs-1.img" | cut -d' ' -f1)

python3 - "$T/rootfs-1.img" "$T/rootfs-2.img" <<'PY'
import random, sys
d = bytearray(open(sys.argv[1], "rb").read())
r = random.Random(2)
for at in range(1000, len(d) - 16, 64 * 1024):
    d[at:at + 8] = r.randbytes(8)
open(sys.argv[2], "wb").write(bytes(d))
PY
KEEP_IMAGE=1 delta_release 2 block
patch=$(ls "$T/repo/stable/chunks/" | grep -- "-from-$v1\$" || true)
check "no patch store for release 1 published: $(ls "$T/repo/stable/chunks/")" test -n "$patch"
expect_exit 0 "$SWU" verify-channel --trusted-root-metadata "$T/root.pb" "$T/repo/stable"
expect_stdout "1 patch store"

# install VERSION WHY: into a slot A of zeroes (nothing of it in place), from a fresh daemon;
# sets since (the first line of bytes.log for it) and bytes (blobs and stores fetched).
install() {
	truncate -s 0 "$DEV/rootfs-A"
	truncate -s "$SLOT_SIZE" "$DEV/rootfs-A"
	restart_daemon
	since=$(($(lines) + 1))
	expect_exit 0 ctl install --reinstall
	expect_eq "result of version $1 ($2)" "$(prop Result)" success
	check "slot A does not hold version $1 ($2)" slot_holds "$DEV/rootfs-A" "$T/rootfs-$1.img"
	bytes=$(fetched "$since")
	echo "version $1 ($2): $bytes bytes fetched"
	expect_exit 0 ctl reset
}

install 2 "patch store"
check "patch store not taken: $(grep 'Delta update' "$T/daemon.log" | tail -3)" \
	grep -q "a patch store for the installed image is on the server" "$T/daemon.log"
check "the patch store was not fetched" grep -q "GET /stable/chunks/$patch" <(tail -n +"$since" "$T/bytes.log")
check_not "the chunk store was fetched besides the patch store" \
	grep -q "GET /stable/chunks/[0-9a-f]* " <(tail -n +"$since" "$T/bytes.log")
with_patch=$bytes

mv "$T/repo/stable/chunks/$patch" "$T/patch"
install 2 "no patch store"
check "the missing patch store not said" grep -q "no patch store for the installed image (HTTP" "$T/daemon.log"
check "a patch store ($with_patch bytes) not 4x smaller than the chunk store ($bytes)" \
	test $((with_patch * 4)) -lt "$bytes"

# A patch store whose frames lie (a byte of each changed), and one made for another image:
# the delta stops at the first chunk that does not match, and the blob brings the rest.
python3 - "$T/patch" "$T/repo/stable/chunks/$patch" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
n = (struct.unpack_from("<Q", d, 8)[0] - 8) // 24
for i in range(n):
    at, size = struct.unpack_from("<QI", d, 8 + 24 * i)
    d[at + size // 2] ^= 0x55
open(sys.argv[2], "wb").write(bytes(d))
PY
logged=$(grep -c "downloading the rest whole" "$T/daemon.log" || true)
install 2 "a lying patch store"
check "no fallback after a lying patch store" test "$(grep -c "downloading the rest whole" "$T/daemon.log")" -gt "$logged"
python3 "$SRCDIR/tests/delta-image.py" "$T/other.img" 7 1
cp "$T/patch" "$T/repo/stable/chunks/$patch"
logged=$(grep -c "downloading the rest whole" "$T/daemon.log" || true)
# The device's slot B now holds another image, its manifest still release 1's: the scan's hash
# of the slot says so, and the chunk store serves it.
in_slot B "$T/other.img"
install 2 "slot B not what the manifest says"
check "the active slot's other image not noticed" \
	grep -q "the active slot does not hold the installed image byte for byte: the chunk store" "$T/daemon.log"
check_not "the patch store asked for by a slot that does not hold its image" \
	grep -q "GET /stable/chunks/$patch" <(tail -n +"$since" "$T/bytes.log")
check "a fallback although the chunk store serves any slot" \
	test "$(grep -c "downloading the rest whole" "$T/daemon.log")" -eq "$logged"
finish
