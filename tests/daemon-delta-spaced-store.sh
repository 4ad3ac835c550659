#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A chunk store whose (unsigned) records spread the frames out: each block a raw zstd frame (as
# large as a frame may be), the frames of each chunk followed by DeltaCoalesceBytes of junk, so
# that every range would bring the gaps. A release of unrelated content (every chunk missing)
# would cost 1.5 times its blob that way: the daemon sees it in the plan, fetches no frame, and
# downloads the image whole.
. "${SRCDIR:-.}/tests/daemon-delta-lib.sh"

delta_setup
start_daemon

spread_store() { # rewrites the newest store; its records' end into $T/records-end
	local f
	f=$(ls -t "$T/repo/stable/chunks/" | grep -v -- -from- | head -n1) # the chunk store
	python3 - "$T/repo/stable/chunks/$f" "$T/repo/stable/blobs/$f" "$T/rootfs-3.img" \
		$((32 * 1024)) >"$T/records-end" <<'PY'
import struct, sys
store, index, image, pad = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
idx, img, old = open(index, "rb").read(), open(image, "rb").read(), open(store, "rb").read()
# 16 bytes a block with rolling hashes (byte-granular, or the rolling flag), else 12
rolling = struct.unpack_from("<I", idx, 28)[0] == 1 or struct.unpack_from("<I", idx, 12)[0] & 1
n, rb = struct.unpack_from("<I", idx, 44)[0], 16 if rolling else 12
lens = [struct.unpack_from("<I", idx, 48 + 44 * i)[0] for i in range(n)]
end = 8 + 8 * n + rb * sum((l + 4095) // 4096 for l in lens)
records, frames, at, off = bytearray(old[:end]), bytearray(), 8, 0
for length in lens:
    struct.pack_into("<Q", records, at, end + len(frames))
    for b in range((length + 4095) // 4096):
        block = img[off + b * 4096:off + min(length, (b + 1) * 4096)]
        # a raw frame: magic, no content size, a 128 KiB window, one raw last block
        frames += b"\x28\xb5\x2f\xfd\x00\x38" + struct.pack("<I", 1 | len(block) << 3)[:3] + block
        struct.pack_into("<I", records, at + 8 + rb * b + 8, 9 + len(block))
    frames += bytes(pad)
    at, off = at + 8 + rb * ((length + 4095) // 4096), off + length
open(store, "wb").write(bytes(records + frames))
print(end)
PY
}
SEED=7 fallback 3 "spread-out store" spread_store
check "the plan's refusal not logged" grep -q "more than the blob" "$T/daemon.log"
# Only the records came from the store: no range of frames was asked for.
starts=$(tail -n +"$since" "$T/bytes.log" | awk '$4 ~ /chunks/ { sub(/bytes=/, "", $6); sub(/-.*/, "", $6); print $6 }')
check "no store request" test -n "$starts"
for s in $starts; do
	check "a store range from byte $s, past the records (end $(cat "$T/records-end"))" \
		test "$s" -lt "$(cat "$T/records-end")"
done
echo "fetched $(fetched "$since") bytes for a $(stat -c %s "$T/rootfs-3.img") byte image"
finish
