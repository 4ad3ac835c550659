#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Delta updates against nginx on 127.0.0.1: a release with a chunk index installs from the chunks
# the slots hold plus Range requests on the chunk store; what the server does wrong (a store that
# lies, Range ignored, no store) falls back to the blob; an interrupted install resumes.
. "${SRCDIR:-.}/tests/daemon-lib.sh"
: "${SWUPDATECTL:?}"
SLOT_SIZE=$((8 * 1024 * 1024))

device_setup grub
start_bus
start_nginx
# A second log with the bytes of each response and the range asked for.
# When each request started: $msec (its end) minus $request_time.
sed -i 's|^  access_log .*;|&\n  log_format bytes "$status $bytes_sent $request $http_range $msec $request_time";\n  access_log '"$T"'/bytes.log bytes;|' "$T/nginx.conf"
nginx -c "$T/nginx.conf" -s reload
sleep 0.3
image() { python3 "$SRCDIR/tests/delta-image.py" "$T/rootfs-$1.img" "$1" ${SEED:-}; }
# delta_release VERSION [chunking]: rootfs with its chunk index, appfs unchanged
delta_release() {
	[ -n "${KEEP_IMAGE:-}" ] || image "$1"
	"$SWU" create-empty-bundle --target-metadata-version "$1" --compatible acme-gw-v2 "$T/v$1.swu"
	"$SWU" add-file-to-bundle --bundle "$T/v$1.swu" --file "$T/rootfs-$1.img" --new-name rootfs \
		--chunk-index${2:+=$2} >/dev/null
	"$SWU" add-file-to-bundle --bundle "$T/v$1.swu" --file "$T/appfs.img" --new-name appfs
	"$SWU" sign-bundle --bundle "$T/v$1.swu" --key "$T/targets"
	publish "$T/v$1.swu"
}
# fetched [SINCE-LINE]: bytes nginx sent for blobs and chunk stores since line N of its log
fetched() { tail -n +"${1:-1}" "$T/bytes.log" | awk '$3 == "GET" && ($4 ~ /blobs|chunks/) { s += $2 } END { print s + 0 }'; }
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
printf 'app\n' >"$T/appfs.img"

delta_release 1 block
start_daemon
# --- version 1 over a factory slot: nothing local, every block from the chunk store -------------
expect_exit 0 ctl install
expect_eq "result of v1" "$(prop Result)" success
checks=$((checks + 1))
slot_holds "$DEV/rootfs-B" "$T/rootfs-1.img" || fail "slot B does not hold version 1"
grep -q "GET /stable/chunks/" "$T/bytes.log" || fail "no chunk store request for version 1"
echo "v1: fetched $(fetched) bytes, DownloadDone $(prop DownloadDone)"
expect_exit 0 ctl reset
reboot_into B
restart_daemon
expect_exit 0 ctl mark-good

# --- version 2: most chunks come from the active slot -------------------------------------------
delta_release 2 block
since=$(($(lines) + 1))
expect_exit 0 ctl install
expect_eq "result of v2" "$(prop Result)" success
checks=$((checks + 1))
slot_holds "$DEV/rootfs-A" "$T/rootfs-2.img" || fail "slot A does not hold version 2"
got=$(fetched "$since")
size=$(stat -c %s "$T/rootfs-2.img")
echo "version 2: nginx sent $got bytes for a $size-byte image; DownloadDone $(prop DownloadDone)," \
	"DownloadTotal $(prop DownloadTotal), BytesReused $(prop BytesReused)"
checks=$((checks + 1))
[ "$got" -lt $((size / 20)) ] || fail "version 2 fetched $got bytes, 5% is $((size / 20))"
expect_eq "rootfs blob of version 2 requests" "$(blob_requests "$(sha256sum "$T/rootfs-2.img" | cut -d' ' -f1)")" 0
checks=$((checks + 1))
[ "$(prop BytesReused)" -gt $((size * 9 / 10)) ] || fail "BytesReused $(prop BytesReused)"
checks=$((checks + 1))
[ "$(prop DownloadDone)" -gt 0 ] && [ "$(prop DownloadDone)" -le "$got" ] || fail "DownloadDone $(prop DownloadDone), nginx sent $got"
expect_eq "DownloadTotal" "$(prop DownloadTotal)" "$(prop DownloadDone)"
expect_exit 0 ctl status
expect_stdout "reused"
expect_exit 0 ctl history
expect_stdout "downloaded"
expect_exit 0 ctl reset

# installed_whole VERSION WHY: installing VERSION succeeds, its rootfs blob fetched once.
installed_whole() {
	expect_exit 0 ctl install
	expect_eq "result of version $1 ($2)" "$(prop Result)" success
	checks=$((checks + 1))
	slot_holds "$DEV/rootfs-A" "$T/rootfs-$1.img" || fail "slot A does not hold version $1 ($2)"
	expect_eq "rootfs blob of version $1 requests ($2)" \
		"$(blob_requests "$(sha256sum "$T/rootfs-$1.img" | cut -d' ' -f1)")" 1
}

# --- what the server gets wrong falls back to the blob; the install still succeeds -------------
# $1: the version; the rest: a command that breaks the server after publishing.
fallback() {
	local v=$1
	shift
	delta_release "$v" block
	"$@"
	local logged
	logged=$(grep -c "downloading the rest whole" "$T/daemon.log" || true)
	since=$(($(lines) + 1))
	installed_whole "$v" "$*"
	checks=$((checks + 1))
	[ "$(grep -c "downloading the rest whole" "$T/daemon.log")" -gt "$logged" ] ||
		fail "no fallback logged ($*)"
	expect_exit 0 ctl reset
}
corrupt_store() { # a byte of every frame in the middle of the store
	local f
	f=$(ls -t "$T/repo/stable/chunks/" | head -n1)
	python3 - "$T/repo/stable/chunks/$f" <<'PY'
import sys
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
for i in range(32768, len(d), 97):
    d[i] ^= 0xFF
open(p, "wb").write(bytes(d))
PY
}
no_store() { rm -f "$T"/repo/stable/chunks/*; }
ignore_range() {
	sed -i 's|^    root .*;|&\n    location /stable/chunks/ { max_ranges 0; }|' "$T/nginx.conf"
	nginx -c "$T/nginx.conf" -s reload
	sleep 0.5
}
fallback 3 corrupt_store
fallback 4 no_store
fallback 5 ignore_range
checks=$((checks + 1))
tail -n +"$since" "$T/bytes.log" | grep -q "^200 .*GET /stable/chunks/" || fail "nginx did not ignore the Range"
sed -i '/max_ranges 0/d' "$T/nginx.conf"
nginx -c "$T/nginx.conf" -s reload
sleep 0.5

# --- a power cut (SIGKILL) during a delta install: the next install goes on where it stopped ----
# Version 6 shares nothing with the slots: its 3.4 MB come from the store, at 1 MB/s.
sed -i 's|^\[Network\]|&\nMaxBytesPerSec=1000000|' "$DEV/swupdated.conf"
restart_daemon
SEED=6 delta_release 6 block
for at in 0 1200000; do
	ctl install >/dev/null 2>&1 &
	ctl_pid=$!
	for _ in $(seq 200); do
		[ "$(prop State)" = transferring ] && [ "$(prop CurrentTarget)" = rootfs ] &&
			[ "$(prop DownloadDone)" -ge "$at" ] && break
		sleep 0.05
	done
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	wait "$ctl_pid" 2>/dev/null || true
	echo "killed at DownloadDone >= $at"
	launch_daemon
	expect_eq "booted slot after the cut at $at" "$(prop BootedSlot)" B
	expect_eq "primary after the cut at $at" "$(primary)" B
	expect_exit 0 ctl reset
done
since=$(($(lines) + 1))
t0=$(date +%s%N)
expect_exit 0 ctl install
t1=$(date +%s%N)
expect_eq "result of version 6 after two cuts" "$(prop Result)" success
checks=$((checks + 1))
slot_holds "$DEV/rootfs-A" "$T/rootfs-6.img" || fail "slot A does not hold version 6"
got=$(fetched "$since")
echo "version 6 after two cuts: nginx sent $got more bytes; BytesReused $(prop BytesReused)"
checks=$((checks + 1))
[ "$(prop BytesReused)" -ge 1000000 ] || fail "the chunks written before the cut were not kept"
checks=$((checks + 1))
[ "$got" -lt 3000000 ] || fail "the resumed install fetched $got bytes"
# Ranges are fetched side by side; MaxBytesPerSec= holds for all of them together.
checks=$((checks + 1))
[ $(((t1 - t0) / 1000000)) -ge $((got / 1000 * 8 / 10)) ] ||
	fail "$got bytes in $(((t1 - t0) / 1000000)) ms: faster than MaxBytesPerSec=1000000"
expect_exit 0 ctl reset

# --- long ranges are requested ahead of their turn, then wait at their first byte ---------------
# Version 7 is version 6 (in slot A, in place) with six 256 KiB regions rewritten, 1 MiB apart:
# six ranges of frames, each longer than what is held in memory. At 1 MB/s each takes 0.25 s;
# the next one is asked for while the one before still streams, so its round trip overlaps it.
rewrite_regions 6 7 256
KEEP_IMAGE=1 delta_release 7 block
since=$(($(lines) + 1))
expect_exit 0 ctl install
expect_eq "result of version 7" "$(prop Result)" success
checks=$((checks + 1))
slot_holds "$DEV/rootfs-A" "$T/rootfs-7.img" || fail "slot A does not hold version 7"
# The starts of the long frame ranges, in order; a start less than 0.15 s after the one before
# means it was asked for while that one still streamed.
starts=$(tail -n +"$since" "$T/bytes.log" |
	awk '$1 == 206 && $4 ~ /chunks/ && $2 > 200000 { printf "%.3f\n", $(NF - 1) - $NF }' | sort -n)
echo "version 7: long ranges started at $(echo $starts)"
checks=$((checks + 1))
[ "$(echo "$starts" | wc -l)" -ge 4 ] || fail "version 7: expected at least 4 long ranges: $starts"
checks=$((checks + 1))
echo "$starts" | awk 'NR > 1 && $1 - prev < 0.15 { early++ } { prev = $1 } END { exit !(early >= 2) }' ||
	fail "version 7: no long range was requested ahead of its turn"
expect_exit 0 ctl reset
# The index was kept in an unlinked file: nothing is left in the staging directory.
expect_eq "files left in StagingDirectory=" "$(find "$DEV/staging" -type f | wc -l)" 0

# --- a server that drops ranges while they wait: each is asked for again, no retry counted ------
# The fake server drops every long range of the store once, after 64 KiB (as a server's idle
# timeout drops a connection a client does not read). Version 9 is version 7 (in slot A) with six
# other 256 KiB regions rewritten: six long ranges; all but the first are asked for while the one
# before streams (MaxBytesPerSec=1000000), so their drops show when their turn comes.
rewrite_regions 7 9 640
KEEP_IMAGE=1 delta_release 9 block
nginx_server=$SERVER
start_fake_server drop-parked
use_server "$SERVER"
restart_daemon
since_log=$(($(wc -l <"$T/daemon.log") + 1))
expect_exit 0 ctl install
expect_eq "result of version 9" "$(prop Result)" success
checks=$((checks + 1))
slot_holds "$DEV/rootfs-A" "$T/rootfs-9.img" || fail "slot A does not hold version 9"
tail -n +"$since_log" "$T/daemon.log" >"$T/daemon-9.log"
waited=$(grep -c "a range dropped while it waited" "$T/daemon-9.log" || true)
counted=$(grep -c "interrupted at store byte" "$T/daemon-9.log" || true)
echo "version 9: the server dropped $(grep -c " 65536 " "$T/fake.log" || true) ranges;" \
	"$waited asked for again as waiting ranges, $counted retries counted"
checks=$((checks + 1))
[ "$waited" -ge 4 ] && [ "$counted" -le 1 ] ||
	fail "version 9: $waited drops of waiting ranges asked for again, $counted counted as retries"
checks=$((checks + 1))
! grep -q "Delta update of 'rootfs' stopped" "$T/daemon-9.log" || fail "version 9 fell back to the blob"
expect_exit 0 ctl reset
stop_fake_server
use_server "$nginx_server"
restart_daemon

# --- no staging directory to keep the index in: the image comes whole, and installs -------------
printf 'a file\n' >"$T/not-a-directory"
sed -i "s|^StagingDirectory=.*|StagingDirectory=$T/not-a-directory/staging|" "$DEV/swupdated.conf"
restart_daemon
delta_release 8 block
installed_whole 8 "no staging directory"
checks=$((checks + 1))
grep -q "Cannot keep the chunk index of 'rootfs' in '$T/not-a-directory/staging'" "$T/daemon.log" ||
	fail "the missing staging directory was not logged"

finish
