# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by the delta update scenarios (daemon-delta-*.sh): a device with 8 MiB slots, usually
# running release 1 from slot B (booted_release) so installs go to slot A; nginx on 127.0.0.1
# with a second log of the bytes it sent; block images that share most of their content
# (tests/delta-image.py) and releases with a chunk index.
. "${SRCDIR:-.}/tests/daemon-lib.sh"
SLOT_SIZE=$((8 * 1024 * 1024))

# delta_device: the device and the bus; appfs ($T/appfs.img) is the same in every release.
delta_device() {
	device_setup grub
	start_bus
	printf 'app\n' >"$T/appfs.img"
}

# delta_nginx [SERVER-DIRECTIVES]: nginx serving $T/repo, with $T/bytes.log: the status, bytes
# sent, request and range asked for of each response, and when it started ($msec, its end, minus
# $request_time).
delta_nginx() {
	start_nginx "${1:-}" "log_format bytes '\$status \$bytes_sent \$request \$http_range \$msec \$request_time';
  access_log $T/bytes.log bytes;"
}

# delta_setup [SERVER-DIRECTIVES]: the device running release 1 from slot B (booted_release),
# and nginx (delta_nginx).
delta_setup() {
	delta_device
	delta_nginx "${1:-}"
	booted_release 1
}

# start_daemon_1mbs: the daemon with MaxBytesPerSec=1000000, so a transfer lasts long enough to
# be cut, or to have ranges wait for their turn.
start_daemon_1mbs() {
	daemon_config
	conf_add Network MaxBytesPerSec=1000000
	launch_daemon
}

# image VERSION: $T/rootfs-VERSION.img (from $SEED if set: unrelated content).
image() { python3 "$SRCDIR/tests/delta-image.py" "$T/rootfs-$1.img" "$1" ${SEED:-}; }

# in_slot SLOT IMAGE: the rootfs slot holds IMAGE, as if it had been installed there.
in_slot() { dd if="$2" of="$DEV/rootfs-$1" conv=notrunc status=none; }

# booted_release VERSION: rootfs VERSION and the appfs of every release, installed from a local
# bundle by the one-shot swupdated install, booted from slot B and confirmed. The next install
# goes to slot A, can reuse rootfs VERSION from slot B, and copies the unchanged appfs.
booted_release() {
	image "$1"
	release "$T/v$1-local.swu" "$1" --file rootfs="$T/rootfs-$1.img" --file appfs="$T/appfs.img"
	expect_exit 0 swupdated install "$T/v$1-local.swu"
	reboot_into B
	expect_exit 0 swupdated mark-good
}

# delta_release VERSION [CHUNKING]: publishes rootfs VERSION with its chunk index (a new image
# unless KEEP_IMAGE is set) and the unchanged appfs.
delta_release() {
	[ -n "${KEEP_IMAGE:-}" ] || image "$1"
	"$SWU" create-empty-bundle --target-metadata-version "$1" --compatible acme-gw-v2 "$T/v$1.swu"
	"$SWU" add-file-to-bundle --bundle "$T/v$1.swu" --file "$T/rootfs-$1.img" --new-name rootfs \
		--chunk-index${2:+=$2} >/dev/null
	"$SWU" add-file-to-bundle --bundle "$T/v$1.swu" --file "$T/appfs.img" --new-name appfs
	"$SWU" sign-bundle --bundle "$T/v$1.swu" --key "$T/targets"
	publish "$T/v$1.swu"
}

# fetched [SINCE-LINE]: bytes nginx sent for blobs and chunk stores since line N of its log.
fetched() {
	tail -n +"${1:-1}" "$T/bytes.log" | awk '$3 == "GET" && ($4 ~ /blobs|chunks/) { s += $2 } END { print s + 0 }'
}
lines() { wc -l <"$T/bytes.log"; }

# rewrite_regions FROM TO KIB: rootfs-TO is rootfs-FROM with six 256 KiB regions rewritten (seed
# TO), 1 MiB apart from KIB KiB on: six ranges of frames, each longer than a range held in memory.
rewrite_regions() {
	python3 - "$T/rootfs-$1.img" "$T/rootfs-$2.img" "$2" "$3" <<'PY'
import random, sys
d = bytearray(open(sys.argv[1], "rb").read())
r = random.Random(int(sys.argv[3]))
for k in range(6):
    at = k * 1024 * 1024 + int(sys.argv[4]) * 1024
    d[at:at + 256 * 1024] = r.randbytes(256 * 1024)
open(sys.argv[2], "wb").write(bytes(d))
PY
}

# installed_whole VERSION WHY: installing VERSION into slot A succeeds, its rootfs blob fetched
# once.
installed_whole() {
	expect_exit 0 ctl install
	expect_eq "result of version $1 ($2)" "$(prop Result)" success
	check "slot A does not hold version $1 ($2)" slot_holds "$DEV/rootfs-A" "$T/rootfs-$1.img"
	expect_eq "rootfs blob of version $1 requests ($2)" \
		"$(blob_requests "$(sha256sum "$T/rootfs-$1.img" | cut -d' ' -f1)")" 1
}

# fallback VERSION WHY [CMD...]: what the server gets wrong (CMD breaks it after publishing
# VERSION) makes the daemon download the rest of the image whole, and the install succeeds.
# Sets since, the first line of bytes.log for this install.
fallback() {
	local v=$1 why=$2 logged
	shift 2
	delta_release "$v" block
	"$@"
	logged=$(grep -c "downloading the rest whole" "$T/daemon.log" || true)
	since=$(($(lines) + 1))
	installed_whole "$v" "$why"
	check "no fallback logged ($why)" test "$(grep -c "downloading the rest whole" "$T/daemon.log")" -gt "$logged"
	expect_exit 0 ctl reset
}
